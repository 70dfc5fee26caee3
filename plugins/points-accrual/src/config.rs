//! The brand's settings for the rule, their defaults, and their validation.
//!
//! Every key is optional (see the table in the crate docs). Percentages are multipliers in
//! percent: `100` is the normal rate, `150` is 1.5×, `200` is double, `0` earns nothing.
//! Numbers are read as signed integers so that a negative value is reported as a
//! configuration error naming its key, rather than as a bare JSON type mismatch.

use std::collections::BTreeMap;

use rulebox_sdk::money::{Rate, Rounding};
use rulebox_sdk::prelude::*;
use rulebox_sdk::time::{LocalTime, Weekday};

/// The brand's time zone when none is configured: China Standard Time (UTC+8).
pub const DEFAULT_UTC_OFFSET_MINUTES: i32 = 480;

/// The longest expiry accepted, in months (a hundred years).
pub const MAX_EXPIRY_MONTHS: u32 = 1200;

/// The brand's settings for this rule.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Points earned per amount paid, e.g. `{"points": 1, "per": 100}` = 1 point per ¥1.
    #[serde(deserialize_with = "strict_rate")]
    pub rate: Rate,
    /// How the purchase's points are rounded (once, at the end): `down`, `up` or `nearest`.
    pub rounding: Rounding,
    /// Multiplier in percent by member tier; unlisted tiers earn 100%.
    pub tier_multipliers: BTreeMap<String, i64>,
    /// Multiplier in percent for order lines by product category.
    pub category_multipliers: BTreeMap<String, i64>,
    /// Multiplier in percent for order lines by product id; overrides the category's.
    pub product_multipliers: BTreeMap<String, i64>,
    /// Campaign windows; when several apply, the highest multiplier wins.
    pub campaigns: Vec<Campaign>,
    /// Flat points for the member's first purchase.
    pub first_purchase_bonus: Points,
    /// Points for signing up.
    pub sign_up_points: Points,
    /// Points for a check-in.
    pub check_in_points: Points,
    /// Points for posting a review.
    pub review_points: Points,
    /// Extra points for a review with photos.
    pub review_photo_bonus: Points,
    /// Points for a referral at level 1 (direct), 2 and 3.
    pub referral_points: [Points; 3],
    /// Most points a member may earn in a local day, counting every rule (0 = no cap).
    pub daily_cap: Points,
    /// Points expire at the end of this many months after the event's month (none = never).
    pub expiry_months: Option<u32>,
    /// The brand's time zone as minutes ahead of UTC.
    pub utc_offset_minutes: i32,
    /// The currency symbol used in award reasons, e.g. "¥" in "1pt/¥1".
    pub currency_symbol: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rate: Rate {
                points: 1,
                per: 100,
            },
            rounding: Rounding::Down,
            tier_multipliers: BTreeMap::new(),
            category_multipliers: BTreeMap::new(),
            product_multipliers: BTreeMap::new(),
            campaigns: Vec::new(),
            first_purchase_bonus: 0,
            sign_up_points: 0,
            check_in_points: 0,
            review_points: 0,
            review_photo_bonus: 0,
            referral_points: [0, 0, 0],
            daily_cap: 0,
            expiry_months: None,
            utc_offset_minutes: DEFAULT_UTC_OFFSET_MINUTES,
            currency_symbol: "¥".to_owned(),
        }
    }
}

/// A time-limited points multiplier, e.g. double points on weekend afternoons in March.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Shown in award reasons, e.g. "double-points-weekend".
    pub name: String,
    /// First instant of the campaign (event time, ms since the epoch, inclusive).
    pub from: Timestamp,
    /// End of the campaign (event time, ms since the epoch, exclusive).
    pub until: Timestamp,
    /// Local weekdays the campaign runs on, e.g. `["Sat", "Sun"]`; empty = every day.
    #[serde(default)]
    pub weekdays: Vec<String>,
    /// Local hours the campaign runs in each day; absent = all day.
    #[serde(default)]
    pub hours: Option<Hours>,
    /// Multiplier in percent while the campaign applies, e.g. `200` = double points.
    pub multiplier: i64,
}

/// Local hours of the day, `from` inclusive to `until` exclusive: `{"from": 14, "until": 17}`
/// is 14:00:00.000 to 16:59:59.999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    pub from: i64,
    pub until: i64,
}

impl Validate for Config {
    /// Checks every value, naming the first offending key.
    fn validate(&self) -> Result<(), RuleError> {
        if self.rate.points < 0 {
            return Err(invalid(format!(
                "rate.points must not be negative (got {}); set 0 to earn nothing on purchases",
                self.rate.points
            )));
        }
        if self.rate.per <= 0 {
            return Err(invalid(format!(
                "rate.per must be a positive amount of money in minor units (got {})",
                self.rate.per
            )));
        }
        for (key, map) in [
            ("tier_multipliers", &self.tier_multipliers),
            ("category_multipliers", &self.category_multipliers),
            ("product_multipliers", &self.product_multipliers),
        ] {
            for (name, &percent) in map {
                non_negative(format_args!("{key}.{name}"), percent)?;
            }
        }
        for (i, campaign) in self.campaigns.iter().enumerate() {
            campaign.validate(i)?;
        }
        non_negative("first_purchase_bonus", self.first_purchase_bonus)?;
        non_negative("sign_up_points", self.sign_up_points)?;
        non_negative("check_in_points", self.check_in_points)?;
        non_negative("review_points", self.review_points)?;
        non_negative("review_photo_bonus", self.review_photo_bonus)?;
        for (i, &points) in self.referral_points.iter().enumerate() {
            non_negative(
                format_args!("referral_points[{i}] (level {})", i + 1),
                points,
            )?;
        }
        non_negative("daily_cap", self.daily_cap)?;
        if let Some(months) = self.expiry_months
            && !(1..=MAX_EXPIRY_MONTHS).contains(&months)
        {
            return Err(invalid(format!(
                "expiry_months must be 1 to {MAX_EXPIRY_MONTHS} (got {months}); leave it out for points that never expire"
            )));
        }
        if self.utc_offset_minutes.abs() >= 24 * 60 {
            return Err(invalid(format!(
                "utc_offset_minutes must be between -1439 and 1439 (got {})",
                self.utc_offset_minutes
            )));
        }
        Ok(())
    }
}

impl Config {
    /// The multiplier in percent for the member's tier (100 when the tier is not listed).
    pub fn tier_percent(&self, tier: &str) -> i64 {
        self.tier_multipliers.get(tier).copied().unwrap_or(100)
    }

    /// The multiplier in percent for one order line, and what earned it (the product id or
    /// the category) when it is not the default: a product's multiplier overrides its
    /// category's.
    pub fn line_percent(&self, product_id: &str, category: &str) -> (i64, Option<&str>) {
        if let Some((id, &percent)) = self.product_multipliers.get_key_value(product_id) {
            (percent, Some(id.as_str()))
        } else if let Some((name, &percent)) = self.category_multipliers.get_key_value(category) {
            (percent, Some(name.as_str()))
        } else {
            (100, None)
        }
    }

    /// The campaign with the highest multiplier among those applying at `at` (local time
    /// `local`); on a tie, the one listed first.
    pub fn best_campaign(&self, at: Timestamp, local: &LocalTime) -> Option<&Campaign> {
        self.campaigns.iter().filter(|c| c.applies(at, local)).fold(
            None,
            |best: Option<&Campaign>, c| match best {
                Some(b) if b.multiplier >= c.multiplier => Some(b),
                _ => Some(c),
            },
        )
    }
}

impl Campaign {
    /// Whether the campaign runs at `at`, whose local time is `local`.
    pub fn applies(&self, at: Timestamp, local: &LocalTime) -> bool {
        let in_window = self.from <= at && at < self.until;
        let on_day = self.weekdays.is_empty()
            || self
                .weekdays
                .iter()
                .any(|name| parse_weekday(name) == Some(local.weekday));
        let in_hours = self.hours.is_none_or(|h| {
            let hour = i64::from(local.hour);
            h.from <= hour && hour < h.until
        });
        in_window && on_day && in_hours
    }

    fn validate(&self, index: usize) -> Result<(), RuleError> {
        let field = |key: &str| format!("campaigns[{index}] ({:?}).{key}", self.name);
        if self.name.trim().is_empty() {
            return Err(invalid(format!(
                "campaigns[{index}].name must not be empty: it is shown in award reasons"
            )));
        }
        if self.from >= self.until {
            return Err(invalid(format!(
                "{} must be before {} (got from = {}, until = {})",
                field("from"),
                field("until"),
                self.from,
                self.until
            )));
        }
        for name in &self.weekdays {
            if parse_weekday(name).is_none() {
                return Err(invalid(format!(
                    "{}: {name:?} is not a weekday; use Mon, Tue, Wed, Thu, Fri, Sat or Sun",
                    field("weekdays")
                )));
            }
        }
        if let Some(hours) = self.hours {
            if !(0..=24).contains(&hours.from) || !(0..=24).contains(&hours.until) {
                return Err(invalid(format!(
                    "{} must be local hours between 0 and 24 (got from = {}, until = {})",
                    field("hours"),
                    hours.from,
                    hours.until
                )));
            }
            if hours.from >= hours.until {
                return Err(invalid(format!(
                    "{}: from must be before until (got from = {}, until = {}); split a window across midnight into two campaigns",
                    field("hours"),
                    hours.from,
                    hours.until
                )));
            }
        }
        let name = &self.name;
        non_negative(
            format_args!("campaigns[{index}] ({name:?}).multiplier"),
            self.multiplier,
        )
    }
}

/// Reads a [`Rate`] refusing unknown keys (a misspelt `"pre"` must not pass unnoticed).
fn strict_rate<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Rate, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct StrictRate {
        points: Points,
        per: Money,
    }
    let StrictRate { points, per } = serde::Deserialize::deserialize(deserializer)?;
    Ok(Rate { points, per })
}

/// A weekday from its English name: "Mon" or "Monday", in any letter case.
pub fn parse_weekday(name: &str) -> Option<Weekday> {
    const DAYS: [(&str, &str, Weekday); 7] = [
        ("mon", "monday", Weekday::Mon),
        ("tue", "tuesday", Weekday::Tue),
        ("wed", "wednesday", Weekday::Wed),
        ("thu", "thursday", Weekday::Thu),
        ("fri", "friday", Weekday::Fri),
        ("sat", "saturday", Weekday::Sat),
        ("sun", "sunday", Weekday::Sun),
    ];
    let name = name.to_ascii_lowercase();
    DAYS.iter()
        .find(|(short, long, _)| name == *short || name == *long)
        .map(|&(_, _, day)| day)
}

/// `key` is formatted only for the error: the configuration is validated on every call, and
/// building a label per map entry was a sizeable part of a call's instructions.
fn non_negative(key: impl std::fmt::Display, value: i64) -> Result<(), RuleError> {
    if value < 0 {
        return Err(invalid(format!(
            "{key} must not be negative (got {value}); set 0 to give nothing"
        )));
    }
    Ok(())
}

fn invalid(message: String) -> RuleError {
    RuleError::invalid_config(message)
}
