//! The brand's settings for the rule, their defaults and their validation.

use std::collections::BTreeMap;

use rulebox_sdk::{RuleError, Validate};

/// The brand's settings for this rule. Every key is optional; see the crate docs for the
/// table of keys and defaults.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How far from the member to look for stores, in metres.
    pub radius_m: u32,
    /// How many of the nearest stores (open or closed) are looked at.
    pub max_stores: u32,
    /// The most items an answer holds, whatever the query's `limit`.
    pub max_items: u32,
    /// Stock below this is scarce: the stock component is 0.
    pub low_stock: u32,
    /// Stock at or above this is plenty: the stock component is 1.
    pub plenty_stock: u32,
    /// How much each factor counts.
    pub weights: Weights,
    /// Member tag → the product categories it favours, e.g. `{"fruit-lover": ["fruit-tea"]}`.
    pub tag_categories: BTreeMap<String, Vec<String>>,
    /// The brand's time zone as minutes ahead of UTC, for the local day part.
    pub utc_offset_minutes: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            radius_m: 3000,
            max_stores: 5,
            max_items: 10,
            low_stock: 5,
            plenty_stock: 30,
            weights: Weights::default(),
            tag_categories: BTreeMap::new(),
            utc_offset_minutes: 480,
        }
    }
}

/// Integer weights of the five score factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    pub sales_rank: u32,
    pub stock: u32,
    pub day_part: u32,
    pub history: u32,
    pub tags: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            sales_rank: 40,
            stock: 25,
            day_part: 20,
            history: 10,
            tags: 5,
        }
    }
}

impl Weights {
    /// Whether any factor counts at all.
    pub fn any(&self) -> bool {
        [
            self.sales_rank,
            self.stock,
            self.day_part,
            self.history,
            self.tags,
        ]
        .iter()
        .any(|&w| w > 0)
    }
}

/// Most stores `max_stores` may ask for: each one examined costs a budgeted host call.
pub const MAX_STORES: u32 = 50;

/// Largest UTC offset accepted, exclusive: a day.
const MAX_OFFSET_MINUTES: i32 = 24 * 60;

impl Validate for Config {
    /// Checks values that parse but make no sense, naming the key at fault.
    fn validate(&self) -> Result<(), RuleError> {
        let bad = |message: String| Err(RuleError::invalid_config(message));
        if self.radius_m == 0 {
            return bad("radius_m must be at least 1 metre (default 3000)".into());
        }
        if self.max_stores == 0 || self.max_stores > MAX_STORES {
            return bad(format!(
                "max_stores ({}) must be between 1 and {MAX_STORES} (default 5): each store \
                 examined costs a stock call",
                self.max_stores
            ));
        }
        if self.max_items == 0 {
            return bad("max_items must be at least 1 (default 10)".into());
        }
        if self.low_stock >= self.plenty_stock {
            return bad(format!(
                "low_stock ({}) must be below plenty_stock ({})",
                self.low_stock, self.plenty_stock
            ));
        }
        if !self.weights.any() {
            return bad(
                "weights are all zero: give at least one of sales_rank, stock, day_part, \
                 history or tags a positive weight"
                    .into(),
            );
        }
        if self.utc_offset_minutes.abs() >= MAX_OFFSET_MINUTES {
            return bad(format!(
                "utc_offset_minutes ({}) must be between -1439 and 1439",
                self.utc_offset_minutes
            ));
        }
        Ok(())
    }
}

impl Config {
    /// How many items to return for a query asking for `limit` (0 = as many as allowed).
    pub fn item_cap(&self, limit: u32) -> usize {
        let n = if limit == 0 {
            self.max_items
        } else {
            limit.min(self.max_items)
        };
        n as usize
    }
}
