//! Welcome bonus: when a member signs up, award points (more through some channels),
//! optionally issue a welcome coupon, and tag the member as new.
//!
//! Configuration (every key optional):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `bonus` | `100` | points for signing up |
//! | `channel_bonus` | `{}` | extra points by acquisition channel, e.g. `{"store-qr": 50}` |
//! | `expiry_months` | none | points expire at the end of this many months after sign-up |
//! | `utc_offset_minutes` | `480` | the brand's time zone, for the expiry date |
//! | `coupon_template` | none | template of a welcome coupon to issue |
//! | `coupon_valid_days` | `30` | how long the welcome coupon is valid |
//! | `tag` | `"new-member"` | tag given to new members (`""` for none) |

use std::collections::BTreeMap;

use rulebox_sdk::prelude::*;
use rulebox_sdk::time::{DAY_MS, end_of_month_after};

/// The brand's settings for this rule.
#[derive(Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub bonus: Points,
    pub channel_bonus: BTreeMap<String, Points>,
    pub expiry_months: Option<u32>,
    pub utc_offset_minutes: i32,
    pub coupon_template: Option<String>,
    pub coupon_valid_days: u32,
    pub tag: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bonus: 100,
            channel_bonus: BTreeMap::new(),
            expiry_months: None,
            utc_offset_minutes: 480,
            coupon_template: None,
            coupon_valid_days: 30,
            tag: "new-member".to_owned(),
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), RuleError> {
        if self.bonus < 0 || self.channel_bonus.values().any(|&b| b < 0) {
            return Err(RuleError::invalid_config(
                "bonus and channel_bonus must not be negative; set 0 to give nothing",
            ));
        }
        Ok(())
    }
}

/// The rule.
pub struct WelcomeBonus;

impl Rule for WelcomeBonus {
    type Config = Config;

    fn describe() -> Description {
        Description::new(
            "welcome-bonus",
            env!("CARGO_PKG_VERSION"),
            "Points, a welcome coupon and a tag when a member signs up.",
        )
        .handles(EventType::SignUp)
    }

    fn on_event(_ctx: &Context, config: &Config, event: &Event) -> Result<Vec<Effect>, RuleError> {
        let EventKind::SignUp(sign_up) = &event.kind else {
            return Err(RuleError::unsupported(
                "welcome-bonus only handles sign-ups",
            ));
        };
        let mut effects = Vec::new();
        let extra = config
            .channel_bonus
            .get(&sign_up.channel)
            .copied()
            .unwrap_or(0);
        let points = rulebox_sdk::money::add(config.bonus, extra)?;
        if points > 0 {
            let reason = format!("welcome bonus ({})", sign_up.channel);
            effects.push(match config.expiry_months {
                Some(months) => {
                    let expires =
                        end_of_month_after(event.occurred_at, months, config.utc_offset_minutes)?;
                    Effect::award_expiring(points, reason, expires)
                }
                None => Effect::award(points, reason),
            });
        }
        if let Some(template) = &config.coupon_template {
            let until = event.occurred_at + i64::from(config.coupon_valid_days) * DAY_MS;
            effects.push(Effect::coupon(template.clone(), event.occurred_at, until));
        }
        if !config.tag.is_empty() {
            effects.push(Effect::tag(config.tag.clone()));
        }
        Ok(effects)
    }
}

export_rule!(WelcomeBonus);

#[cfg(test)]
mod tests {
    use super::*;
    use rulebox_sdk::testing::{FakeHost, Fixture, event, member, sign_up};
    use serde_json::json;

    const JOINED: Timestamp = 1_773_538_200_000; // 2026-03-15 09:30 CST

    fn run(config: serde_json::Value, channel: &str) -> Result<Vec<Effect>, RuleError> {
        FakeHost::new(member("m-1"))
            .with_config(config)
            .on_event::<WelcomeBonus>(&event("e-1", "m-1", JOINED, sign_up(channel)))
    }

    #[test]
    fn default_config_awards_100_points_and_tags() {
        let effects = run(json!({}), "app").unwrap();
        assert_eq!(
            effects,
            vec![
                Effect::award(100, "welcome bonus (app)"),
                Effect::tag("new-member")
            ]
        );
    }

    #[test]
    fn channel_bonus_adds_up_and_points_expire_at_month_end() {
        let effects = run(
            json!({"channel_bonus": {"store-qr": 50}, "expiry_months": 12}),
            "store-qr",
        )
        .unwrap();
        let Effect::AwardPoints(award) = &effects[0] else {
            panic!("{effects:?}")
        };
        assert_eq!(award.amount, 150);
        let expiry = rulebox_sdk::time::local(award.expires_at.unwrap(), 480).unwrap();
        assert_eq!(
            (expiry.date.year, expiry.date.month, expiry.date.day),
            (2027, 3, 31)
        );
        // Other channels get the base bonus only.
        assert_eq!(
            run(json!({"channel_bonus": {"store-qr": 50}}), "app").unwrap()[0].points_delta(),
            100
        );
    }

    #[test]
    fn welcome_coupon_is_valid_for_the_configured_days() {
        let effects = run(
            json!({"coupon_template": "welcome-5off", "coupon_valid_days": 7, "tag": ""}),
            "app",
        )
        .unwrap();
        assert_eq!(
            effects,
            vec![
                Effect::award(100, "welcome bonus (app)"),
                Effect::coupon("welcome-5off", JOINED, JOINED + 7 * DAY_MS),
            ]
        );
    }

    #[test]
    fn bad_configuration_is_a_rule_error() {
        assert!(
            matches!(run(json!({"bonus": -5}), "app"), Err(RuleError::InvalidConfig(m)) if m.contains("negative"))
        );
        assert!(
            matches!(run(json!({"bonsu": 5}), "app"), Err(RuleError::InvalidConfig(m)) if m.contains("bonsu"))
        );
    }

    #[test]
    fn undeclared_events_are_refused() {
        let host = FakeHost::new(member("m-1"));
        let tick = event("e-2", "m-1", JOINED, rulebox_sdk::testing::tick("daily"));
        assert!(matches!(
            host.on_event::<WelcomeBonus>(&tick),
            Err(RuleError::Unsupported(_))
        ));
    }

    #[test]
    fn fixtures_pass_natively() {
        Fixture::check::<WelcomeBonus>(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cases.json"));
    }
}
