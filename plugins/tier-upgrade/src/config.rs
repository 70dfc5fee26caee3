//! The brand's settings for the rule, and the checks that turn them into a usable ladder.

use std::fmt;

use rulebox_sdk::{Activity, Configuration, Money, Points, RuleError};

/// Longest tier name, tag or coupon template id the host accepts (its `MAX_NAME`).
const MAX_NAME: usize = 64;

/// The brand's settings for this rule. Every key is optional.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The tier ladder, lowest (entry) tier first.
    pub tiers: Vec<Tier>,
    /// Which window measures qualify a member for a tier.
    pub qualify_by: QualifyBy,
    /// The scheduled-tick schedule that ends a qualification period (downgrade check).
    pub downgrade_schedule: String,
    /// The brand's time zone, minutes ahead of UTC (local dates in reasons).
    pub utc_offset_minutes: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tiers: vec![
                Tier::new("green", 0, 0),
                Tier::new("gold", 50_000, 500),
                Tier::new("black", 200_000, 2_000),
            ],
            qualify_by: QualifyBy::Either,
            downgrade_schedule: "period-end".to_owned(),
            utc_offset_minutes: 480,
        }
    }
}

/// One level of the ladder.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tier {
    /// The tier's name, as set on the member (required).
    pub name: String,
    /// Window spend, in minor units, that qualifies for the tier.
    pub min_spend: Money,
    /// Window points earned that qualify for the tier.
    pub min_points: Points,
    /// Coupon template issued when a member is upgraded to this tier.
    pub welcome_coupon: Option<String>,
    /// How many days the welcome coupon is valid from the upgrade.
    pub coupon_valid_days: u32,
    /// Tag carried by members on this tier; `None` means `tier-<name>`, `""` means no tag.
    pub tag: Option<String>,
}

impl Tier {
    /// A tier with the given thresholds, no coupon and the default tag.
    pub fn new(name: &str, min_spend: Money, min_points: Points) -> Self {
        Tier {
            name: name.to_owned(),
            min_spend,
            min_points,
            ..Tier::default()
        }
    }

    /// The tag members on this tier carry, if any.
    pub fn tag(&self) -> Option<String> {
        match &self.tag {
            None => Some(format!("tier-{}", self.name)),
            Some(tag) if tag.is_empty() => None,
            Some(tag) => Some(tag.clone()),
        }
    }
}

impl Default for Tier {
    fn default() -> Self {
        Tier {
            name: String::new(),
            min_spend: 0,
            min_points: 0,
            welcome_coupon: None,
            coupon_valid_days: 30,
            tag: None,
        }
    }
}

/// Which window measures count towards a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum QualifyBy {
    /// Window spend only.
    Spend,
    /// Window points earned only.
    Points,
    /// Either measure reaching its threshold qualifies.
    #[default]
    Either,
}

impl TryFrom<String> for QualifyBy {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "spend" => Ok(QualifyBy::Spend),
            "points" => Ok(QualifyBy::Points),
            "either" => Ok(QualifyBy::Either),
            other => Err(format!(
                "qualify_by must be \"spend\", \"points\" or \"either\", not {other:?}"
            )),
        }
    }
}

impl QualifyBy {
    fn counts_spend(self) -> bool {
        matches!(self, QualifyBy::Spend | QualifyBy::Either)
    }

    fn counts_points(self) -> bool {
        matches!(self, QualifyBy::Points | QualifyBy::Either)
    }
}

/// A checked configuration: a non-empty ladder of uniquely named tiers whose counted
/// thresholds rise strictly from one tier to the next.
#[derive(Debug)]
pub struct Ladder {
    config: Config,
}

/// The ladder is what the rule works from; the brand deploys its [`Config`].
impl Configuration for Ladder {
    type Json = Config;

    fn from_json(config: Config) -> Result<Ladder, RuleError> {
        Ladder::new(config)
    }
}

impl Ladder {
    /// Checks `config`, naming the first problem found.
    pub fn new(config: Config) -> Result<Self, RuleError> {
        let invalid = |message: String| Err(RuleError::invalid_config(message));
        let tiers = &config.tiers;
        if tiers.is_empty() {
            return invalid("tiers is empty: the ladder needs at least an entry tier".into());
        }
        if config.downgrade_schedule.is_empty() {
            return invalid("downgrade_schedule must name a schedule".into());
        }
        for (i, tier) in tiers.iter().enumerate() {
            let position = i + 1;
            if tier.name.is_empty() || tier.name.len() > MAX_NAME {
                return invalid(format!(
                    "tier {position} needs a name of 1 to {MAX_NAME} bytes, got {:?}",
                    tier.name
                ));
            }
            let name = &tier.name;
            if tiers[..i].iter().any(|t| t.name == *name) {
                return invalid(format!("tier name {name:?} appears more than once"));
            }
            if tier.min_spend < 0 || tier.min_points < 0 {
                return invalid(format!("tier {name}: thresholds must not be negative"));
            }
            if let Some(tag) = tier.tag() {
                if tag.len() > MAX_NAME {
                    return invalid(format!(
                        "tier {name}: tag {tag:?} is longer than {MAX_NAME} bytes"
                    ));
                }
                if let Some(other) = tiers[..i].iter().find(|t| t.tag().as_ref() == Some(&tag)) {
                    return invalid(format!(
                        "tiers {} and {name} share the tag {tag:?}",
                        other.name
                    ));
                }
            }
            if let Some(template) = &tier.welcome_coupon {
                if template.is_empty() || template.len() > MAX_NAME {
                    return invalid(format!(
                        "tier {name}: welcome_coupon must be a template id of 1 to {MAX_NAME} bytes"
                    ));
                }
                if tier.coupon_valid_days == 0 {
                    return invalid(format!("tier {name}: coupon_valid_days must be at least 1"));
                }
            }
            if let Some(lower) = i.checked_sub(1).map(|j| &tiers[j]) {
                let by = config.qualify_by;
                if by.counts_spend() && tier.min_spend <= lower.min_spend {
                    return invalid(format!(
                        "thresholds must increase along the ladder: {name}'s min_spend {} is not above {}'s {}",
                        tier.min_spend, lower.name, lower.min_spend
                    ));
                }
                if by.counts_points() && tier.min_points <= lower.min_points {
                    return invalid(format!(
                        "thresholds must increase along the ladder: {name}'s min_points {} is not above {}'s {}",
                        tier.min_points, lower.name, lower.min_points
                    ));
                }
            }
        }
        Ok(Ladder { config })
    }

    /// The checked configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The tiers, lowest first.
    pub fn tiers(&self) -> &[Tier] {
        &self.config.tiers
    }

    /// The position of the tier called `name`, if it is on the ladder.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.tiers().iter().position(|t| t.name == name)
    }

    /// The position of the member's tier; a tier off the ladder counts as the entry tier.
    pub fn current(&self, name: &str) -> usize {
        self.position(name).unwrap_or(0)
    }

    /// Whether `window` qualifies for the tier at `position`. The entry tier needs nothing.
    pub fn qualifies(&self, position: usize, window: &Activity) -> bool {
        if position == 0 {
            return true;
        }
        let tier = &self.tiers()[position];
        let by = self.config.qualify_by;
        (by.counts_spend() && window.spend >= tier.min_spend)
            || (by.counts_points() && window.points_earned >= tier.min_points)
    }

    /// The highest tier `window` qualifies for.
    pub fn highest_qualified(&self, window: &Activity) -> usize {
        (0..self.tiers().len())
            .rev()
            .find(|&i| self.qualifies(i, window))
            .unwrap_or(0)
    }
}

impl fmt::Display for Ladder {
    /// The tier names, lowest first: `green < gold < black`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.tiers().iter().map(|t| t.name.as_str()).collect();
        f.write_str(&names.join(" < "))
    }
}
