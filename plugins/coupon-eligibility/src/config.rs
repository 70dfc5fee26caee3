//! The brand's configuration: what it looks like as JSON ([`Config`]) and the checked model the
//! rule works from ([`Rules`]).
//!
//! Numbers a brand could get wrong (percentages, amounts, hours, use limits) are read as
//! signed 64-bit integers and checked here, so a wrong value is reported as
//! [`RuleError::InvalidConfig`] naming the template and the field, e.g.
//! `templates[1] ("gold-20").discount.percent_off must be between 1 and 100, got 120`.

use std::collections::BTreeMap;

use rulebox_sdk::money::Rounding;
use rulebox_sdk::time::Weekday;
use rulebox_sdk::{Money, RuleError};
use serde::Deserialize;

/// Offsets must stay strictly within a day of UTC (what the SDK's time helpers accept).
const MAX_UTC_OFFSET_MINUTES: i32 = 1439;

/// The plugin configuration as the brand writes it. Every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The coupon templates this rule knows. Held coupons of other templates are ineligible.
    pub templates: Vec<TemplateConfig>,
    /// The brand's time zone, in minutes ahead of UTC (480 = China Standard Time).
    pub utc_offset_minutes: i32,
    /// Put before amounts in reasons, e.g. "spend ¥12.00 more".
    pub currency_symbol: String,
    /// How a percent discount rounds to whole minor units: "down" (default), "up", "nearest".
    pub percent_rounding: Rounding,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            templates: Vec::new(),
            utc_offset_minutes: 480,
            currency_symbol: "¥".to_owned(),
            percent_rounding: Rounding::Down,
        }
    }
}

/// One coupon template as the brand writes it. `id` and `discount` are required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub discount: DiscountConfig,
    #[serde(default)]
    pub min_spend: i64,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub products: Vec<String>,
    #[serde(default)]
    pub tiers: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub new_member_only: bool,
    #[serde(default)]
    pub birthday_month_only: bool,
    #[serde(default)]
    pub valid_hours: Option<HoursConfig>,
    #[serde(default)]
    pub valid_weekdays: Vec<String>,
    #[serde(default)]
    pub max_uses_per_member: i64,
    #[serde(default)]
    pub stores: Vec<String>,
    #[serde(default)]
    pub stackable: bool,
    #[serde(default)]
    pub claimable: bool,
}

/// `{"amount_off": 500}` or `{"percent_off": 20, "max_discount": 1000}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscountConfig {
    pub amount_off: Option<i64>,
    pub percent_off: Option<i64>,
    pub max_discount: Option<i64>,
}

/// Local hours `from` (inclusive) to `until` (exclusive), e.g. `{"from": 14, "until": 17}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursConfig {
    pub from: i64,
    pub until: i64,
}

/// The checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub templates: Vec<Template>,
    /// Index into `templates` by template id.
    pub by_id: BTreeMap<String, usize>,
    pub utc_offset_minutes: i32,
    pub currency_symbol: String,
    pub percent_rounding: Rounding,
}

impl Rules {
    /// The index in `templates` of the template with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }
}

/// What a coupon takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// A fixed amount in minor units (> 0).
    AmountOff(Money),
    /// A percentage (1..=100) of the eligible lines, optionally capped.
    PercentOff {
        percent: u32,
        max_discount: Option<Money>,
    },
}

/// Local hours in which a coupon may be used: `from <= hour < until`, or, when
/// `from > until`, a window over midnight (`hour >= from || hour < until`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    pub from: u8,
    pub until: u8,
}

impl Hours {
    /// Whether `minute_of_day` (0..1440) falls in the window.
    pub fn contains(&self, minute_of_day: u32) -> bool {
        let (from, until) = (u32::from(self.from) * 60, u32::from(self.until) * 60);
        if from < until {
            (from..until).contains(&minute_of_day)
        } else {
            minute_of_day >= from || minute_of_day < until
        }
    }
}

/// One checked coupon template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub discount: Discount,
    pub min_spend: Money,
    pub categories: Vec<String>,
    pub products: Vec<String>,
    pub tiers: Vec<String>,
    pub tags: Vec<String>,
    pub new_member_only: bool,
    pub birthday_month_only: bool,
    pub valid_hours: Option<Hours>,
    pub valid_weekdays: Vec<Weekday>,
    /// 0 = unlimited.
    pub max_uses_per_member: u32,
    pub stores: Vec<String>,
    pub stackable: bool,
    pub claimable: bool,
}

impl Template {
    /// Whether the template is limited to some categories or products.
    pub fn is_scoped(&self) -> bool {
        !self.categories.is_empty() || !self.products.is_empty()
    }

    /// Whether a cart line counts toward this template (its scope).
    pub fn covers(&self, product_id: &str, category: &str) -> bool {
        !self.is_scoped()
            || self.categories.iter().any(|c| c == category)
            || self.products.iter().any(|p| p == product_id)
    }
}

impl Config {
    /// Checks every value and builds the model the rule works from.
    pub fn validate(self) -> Result<Rules, RuleError> {
        if self.utc_offset_minutes.abs() > MAX_UTC_OFFSET_MINUTES {
            return Err(RuleError::invalid_config(format!(
                "utc_offset_minutes must be between -{MAX_UTC_OFFSET_MINUTES} and {MAX_UTC_OFFSET_MINUTES}, got {}",
                self.utc_offset_minutes
            )));
        }
        let mut by_id = BTreeMap::new();
        let mut templates = Vec::with_capacity(self.templates.len());
        for (i, raw) in self.templates.into_iter().enumerate() {
            let template = raw.validate(i)?;
            if by_id.insert(template.id.clone(), i).is_some() {
                return Err(RuleError::invalid_config(format!(
                    "templates[{i}].id {:?} is a duplicate template id; ids must be unique",
                    template.id
                )));
            }
            templates.push(template);
        }
        Ok(Rules {
            templates,
            by_id,
            utc_offset_minutes: self.utc_offset_minutes,
            currency_symbol: self.currency_symbol,
            percent_rounding: self.percent_rounding,
        })
    }
}

impl TemplateConfig {
    fn validate(self, index: usize) -> Result<Template, RuleError> {
        if self.id.trim().is_empty() {
            return Err(RuleError::invalid_config(format!(
                "templates[{index}].id is empty; give every template an id"
            )));
        }
        // Formatted only for an error: the configuration is validated on every call.
        let id = &self.id;
        let bad = |field: &str, problem: String| {
            RuleError::invalid_config(format!("templates[{index}] ({id:?}).{field} {problem}"))
        };

        let discount = match (
            self.discount.amount_off,
            self.discount.percent_off,
            self.discount.max_discount,
        ) {
            (Some(_), Some(_), _) | (None, None, _) => {
                return Err(bad(
                    "discount",
                    "must have exactly one of amount_off or percent_off".to_owned(),
                ));
            }
            (Some(_), None, Some(_)) => {
                return Err(bad(
                    "discount.max_discount",
                    "only applies to percent_off discounts".to_owned(),
                ));
            }
            (Some(amount), None, None) => {
                if amount <= 0 {
                    return Err(bad(
                        "discount.amount_off",
                        format!("must be a positive amount in minor units, got {amount}"),
                    ));
                }
                Discount::AmountOff(amount)
            }
            (None, Some(percent), cap) => {
                if !(1..=100).contains(&percent) {
                    return Err(bad(
                        "discount.percent_off",
                        format!("must be between 1 and 100, got {percent}"),
                    ));
                }
                if let Some(cap) = cap
                    && cap <= 0
                {
                    return Err(bad(
                        "discount.max_discount",
                        format!("must be a positive amount in minor units, got {cap}"),
                    ));
                }
                Discount::PercentOff {
                    percent: percent as u32,
                    max_discount: cap,
                }
            }
        };

        if self.min_spend < 0 {
            return Err(bad(
                "min_spend",
                format!("must not be negative, got {}", self.min_spend),
            ));
        }
        let max_uses_per_member = u32::try_from(self.max_uses_per_member).map_err(|_| {
            bad(
                "max_uses_per_member",
                format!(
                    "must be between 0 (unlimited) and {}, got {}",
                    u32::MAX,
                    self.max_uses_per_member
                ),
            )
        })?;

        let valid_hours = match self.valid_hours {
            None => None,
            Some(HoursConfig { from, until }) => {
                if !(0..=23).contains(&from) {
                    return Err(bad(
                        "valid_hours.from",
                        format!("must be a local hour 0..=23, got {from}"),
                    ));
                }
                if !(0..=24).contains(&until) {
                    return Err(bad(
                        "valid_hours.until",
                        format!("must be a local hour 0..=24, got {until}"),
                    ));
                }
                if from == until % 24 {
                    return Err(bad(
                        "valid_hours",
                        format!(
                            "is an empty or whole-day window ({from} to {until}); leave valid_hours out for all day"
                        ),
                    ));
                }
                Some(Hours {
                    from: from as u8,
                    until: until as u8,
                })
            }
        };

        let mut valid_weekdays = Vec::new();
        for (j, day) in self.valid_weekdays.iter().enumerate() {
            let weekday = parse_weekday(day).ok_or_else(|| {
                bad(
                    &format!("valid_weekdays[{j}]"),
                    format!("is {day:?}, not a weekday; use mon, tue, wed, thu, fri, sat or sun"),
                )
            })?;
            if !valid_weekdays.contains(&weekday) {
                valid_weekdays.push(weekday);
            }
        }
        valid_weekdays.sort_by_key(Weekday::num_days_from_monday);

        let name = if self.name.is_empty() {
            self.id.clone()
        } else {
            self.name
        };
        Ok(Template {
            id: self.id,
            name,
            discount,
            min_spend: self.min_spend,
            categories: self.categories,
            products: self.products,
            tiers: self.tiers,
            tags: self.tags,
            new_member_only: self.new_member_only,
            birthday_month_only: self.birthday_month_only,
            valid_hours,
            valid_weekdays,
            max_uses_per_member,
            stores: self.stores,
            stackable: self.stackable,
            claimable: self.claimable,
        })
    }
}

/// "mon" or "monday" (any case) to a weekday.
fn parse_weekday(text: &str) -> Option<Weekday> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Mon,
        "tue" | "tuesday" => Weekday::Tue,
        "wed" | "wednesday" => Weekday::Wed,
        "thu" | "thursday" => Weekday::Thu,
        "fri" | "friday" => Weekday::Fri,
        "sat" | "saturday" => Weekday::Sat,
        "sun" | "sunday" => Weekday::Sun,
        _ => return None,
    })
}
