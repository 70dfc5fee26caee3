//! The score of one product at one store, in integers, and the reason that goes with it.
//!
//! Every factor is a component in per-mille (`0..=1000`, i.e. 0..1 with three decimals),
//! computed with integer arithmetic and rounded half up. The score is the weighted sum of
//! the components divided by 1000, so it is exact to three decimals and the same on every
//! machine. See the crate docs for the formula.

use std::collections::{BTreeMap, BTreeSet};

use rulebox_sdk::{DayPart, MemberView, Product};

use crate::config::{Config, Weights};

/// A component's full value: 1 in per-mille.
pub const ONE: u64 = 1000;

/// Products ranked up to this are a "best seller #N" in reasons; the others "#N in sales".
const BEST_SELLER_TOP: u32 = 3;

/// `numerator / denominator` rounded half up; `denominator` must be positive.
fn div_round(numerator: u64, denominator: u64) -> u64 {
    debug_assert!(denominator > 0);
    (numerator + denominator / 2) / denominator
}

/// `1 / sales_rank` scaled so the best-ranked candidate gets 1: `best / rank`. Rank 0 means
/// unranked and gets 0.
pub fn rank_component(sales_rank: u32, best_rank: u32) -> u64 {
    if sales_rank == 0 || best_rank == 0 {
        return 0;
    }
    div_round(
        ONE * u64::from(best_rank.min(sales_rank)),
        u64::from(sales_rank),
    )
}

/// 0 at or below `low`, 1 at or above `plenty`, linear in between. Needs `low < plenty`.
pub fn stock_component(quantity: u32, low: u32, plenty: u32) -> u64 {
    if quantity <= low {
        0
    } else if quantity >= plenty {
        ONE
    } else {
        div_round(ONE * u64::from(quantity - low), u64::from(plenty - low))
    }
}

/// What the member's history and tags say about their taste.
#[derive(Debug, Default)]
pub struct Taste {
    /// Units bought per product.
    by_product: BTreeMap<String, u64>,
    /// Units bought per category.
    by_category: BTreeMap<String, u64>,
    /// The most units of any one product.
    top_product: u64,
    /// The most units of any one category.
    top_category: u64,
    /// Categories favoured by one of the member's tags.
    tagged: BTreeSet<String>,
}

impl Taste {
    /// No history, no tags: what a rule that weighs neither history nor tags uses, without
    /// reading the member.
    pub fn none() -> Self {
        Taste::default()
    }

    /// The taste of `member`: favourites summed by product and by category, and the
    /// categories `tag_categories` maps the member's tags to.
    pub fn of(member: &MemberView, tag_categories: &BTreeMap<String, Vec<String>>) -> Self {
        let mut taste = Taste::default();
        for fav in &member.favourites {
            let units = u64::from(fav.quantity);
            *taste.by_product.entry(fav.product_id.clone()).or_default() += units;
            *taste.by_category.entry(fav.category.clone()).or_default() += units;
        }
        taste.top_product = taste.by_product.values().copied().max().unwrap_or(0);
        taste.top_category = taste.by_category.values().copied().max().unwrap_or(0);
        taste.tagged = member
            .tags
            .iter()
            .filter_map(|tag| tag_categories.get(tag))
            .flatten()
            .cloned()
            .collect();
        taste
    }

    /// `max(product units / top product units, ½ × category units / top category units)`,
    /// and which of the two won (true: the product itself).
    pub fn history_component(&self, product: &Product) -> (u64, bool) {
        let share = |units: Option<&u64>, top: u64, full: u64| match units {
            Some(&u) if top > 0 => div_round(full * u, top),
            _ => 0,
        };
        let own = share(self.by_product.get(&product.id), self.top_product, ONE);
        let category = share(
            self.by_category.get(&product.category),
            self.top_category,
            ONE / 2,
        );
        if own > 0 && own >= category {
            (own, true)
        } else {
            (category, false)
        }
    }

    /// 1 if one of the member's tags favours the product's category.
    pub fn tag_component(&self, product: &Product) -> u64 {
        if self.tagged.contains(&product.category) {
            ONE
        } else {
            0
        }
    }
}

/// One product scored at one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scored {
    pub product_id: String,
    /// The score × 1000.
    pub milli: u64,
    pub reason: String,
}

impl Scored {
    /// The score as the answer carries it: exact to three decimals.
    pub fn score(&self) -> f64 {
        self.milli as f64 / ONE as f64
    }
}

/// Scores the products in stock at one store.
pub struct Scorer<'a> {
    weights: Weights,
    low_stock: u32,
    plenty_stock: u32,
    day_part: DayPart,
    best_rank: u32,
    taste: &'a Taste,
}

impl<'a> Scorer<'a> {
    /// A scorer for `candidates` (products with their units on hand) at `day_part`.
    pub fn new(
        config: &Config,
        day_part: DayPart,
        candidates: &[(&Product, u32)],
        taste: &'a Taste,
    ) -> Self {
        let best_rank = candidates
            .iter()
            .map(|(p, _)| p.sales_rank)
            .filter(|&r| r > 0)
            .min()
            .unwrap_or(0);
        Scorer {
            weights: config.weights,
            low_stock: config.low_stock,
            plenty_stock: config.plenty_stock,
            day_part,
            best_rank,
            taste,
        }
    }

    /// The score of `product` with `quantity` on hand, and why.
    pub fn score(&self, product: &Product, quantity: u32) -> Scored {
        let w = &self.weights;
        let mut reasons: Vec<String> = Vec::new();

        let rank = rank_component(product.sales_rank, self.best_rank);
        if w.sales_rank > 0 && rank > 0 {
            reasons.push(if product.sales_rank <= BEST_SELLER_TOP {
                format!("best seller #{}", product.sales_rank)
            } else {
                format!("#{} in sales", product.sales_rank)
            });
        }

        let stock = stock_component(quantity, self.low_stock, self.plenty_stock);
        if quantity < self.low_stock {
            reasons.push(format!("only {quantity} left"));
        } else if w.stock > 0 && stock == ONE {
            reasons.push("plenty in stock".to_owned());
        }

        let day_part = if product.day_parts.contains(&self.day_part) {
            ONE
        } else {
            0
        };
        if w.day_part > 0 && day_part > 0 {
            reasons.push(format!("good for {}", day_part_words(self.day_part)));
        }

        let (history, own) = self.taste.history_component(product);
        if w.history > 0 && history > 0 {
            reasons.push(if own {
                "one of your favourites".to_owned()
            } else {
                format!("you often buy {}", words(&product.category))
            });
        }

        let tags = self.taste.tag_component(product);
        if w.tags > 0 && tags > 0 {
            reasons.push(format!(
                "matches your taste for {}",
                words(&product.category)
            ));
        }

        // Fixed order, integers only: the same score on every machine.
        let milli = u64::from(w.sales_rank) * rank
            + u64::from(w.stock) * stock
            + u64::from(w.day_part) * day_part
            + u64::from(w.history) * history
            + u64::from(w.tags) * tags;

        if reasons.is_empty() {
            reasons.push("in stock nearby".to_owned());
        }
        Scored {
            product_id: product.id.clone(),
            milli,
            reason: reasons.join(", "),
        }
    }
}

/// Highest score first; equal scores by product id, ascending.
pub fn rank(scored: &mut [Scored]) {
    scored.sort_by(|a, b| {
        b.milli
            .cmp(&a.milli)
            .then_with(|| a.product_id.cmp(&b.product_id))
    });
}

/// A day part as a member reads it after "good for".
fn day_part_words(part: DayPart) -> &'static str {
    match part {
        DayPart::Breakfast => "breakfast",
        DayPart::Lunch => "lunch",
        DayPart::AfternoonTea => "afternoon tea",
        DayPart::Evening => "the evening",
        DayPart::LateNight => "late night",
    }
}

/// A kebab-case category as words: "fruit-tea" → "fruit tea".
fn words(category: &str) -> String {
    category.replace(['-', '_'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_component_is_best_over_rank() {
        assert_eq!(rank_component(1, 1), 1000);
        assert_eq!(rank_component(2, 1), 500);
        assert_eq!(rank_component(3, 1), 333);
        assert_eq!(rank_component(3, 2), 667);
        assert_eq!(rank_component(0, 1), 0);
        assert_eq!(rank_component(5, 0), 0);
    }

    #[test]
    fn stock_component_is_linear_between_low_and_plenty() {
        assert_eq!(stock_component(0, 5, 30), 0);
        assert_eq!(stock_component(4, 5, 30), 0);
        assert_eq!(stock_component(5, 5, 30), 0);
        assert_eq!(stock_component(6, 5, 30), 40);
        assert_eq!(stock_component(29, 5, 30), 960);
        assert_eq!(stock_component(30, 5, 30), 1000);
        assert_eq!(stock_component(u32::MAX, 5, 30), 1000);
        assert_eq!(stock_component(1, 0, 1), 1000);
    }

    #[test]
    fn scores_are_exact_to_three_decimals() {
        let s = Scored {
            product_id: "p".into(),
            milli: 71_667,
            reason: String::new(),
        };
        assert_eq!(s.score(), 71.667);
        assert_eq!(serde_json::to_string(&s.score()).unwrap(), "71.667");
    }
}
