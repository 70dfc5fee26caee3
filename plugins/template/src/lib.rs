//! A new rulebox rule. Copy this folder to `plugins/<your-rule>`, rename the crate, then:
//!
//! 1. say what the rule handles in `describe` (event kinds, queries, member fields read);
//! 2. write `on_event` (and/or `on_query`) over plain Rust types;
//! 3. test it natively with `cargo test -p <your-rule>`;
//! 4. build it with `cargo build -p <your-rule> --target wasm32-wasip2 --profile plugin`
//!    and run the fixtures against the component with `rulebox test`.
//!
//! This template tags a member "regular" from their `visits_for_regular`-th check-in, by
//! counting check-ins in a member attribute.

use rulebox_sdk::prelude::*;

/// The brand-set parameters, each with a default.
#[derive(Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Check-ins after which a member counts as a regular.
    pub visits_for_regular: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            visits_for_regular: 5,
        }
    }
}

/// The rule.
pub struct Template;

impl Rule for Template {
    /// The platform parses and checks it once per deployment and hands it to every call.
    type Config = Config;

    fn describe() -> Description {
        Description::new(
            "template",
            env!("CARGO_PKG_VERSION"),
            "Tags regular visitors.",
        )
        .handles(EventType::CheckIn)
        .reads(MemberField::Attributes)
    }

    fn on_event(ctx: &Context, config: &Config, _event: &Event) -> Result<Vec<Effect>, RuleError> {
        let visits = match ctx.member().attribute("check-ins") {
            Some(n) => n.parse::<u32>().map_err(|_| {
                RuleError::invalid_input(format!("attribute check-ins is {n:?}, not a number"))
            })?,
            None => 0,
        } + 1;
        let mut effects = vec![Effect::attribute("check-ins", visits.to_string())];
        if visits == config.visits_for_regular {
            effects.push(Effect::tag("regular"));
        }
        Ok(effects)
    }
}

export_rule!(Template);

/// Checked once per deployment; the brand sees the error in every call's outcome.
impl Validate for Config {
    fn validate(&self) -> Result<(), RuleError> {
        if self.visits_for_regular == 0 {
            return Err(RuleError::invalid_config(
                "visits_for_regular must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rulebox_sdk::testing::{FakeHost, Fixture, event, member};
    use rulebox_sdk::{EventKind, Visit};

    fn check_in(host: &FakeHost) -> Result<Vec<Effect>, RuleError> {
        let kind = EventKind::CheckIn(Visit {
            location: None,
            store_id: Some("s-1".into()),
        });
        host.on_event::<Template>(&event("e-1", "m-1", 0, kind))
    }

    #[test]
    fn counts_check_ins() {
        let effects = check_in(&FakeHost::new(member("m-1"))).unwrap();
        assert_eq!(effects, vec![Effect::attribute("check-ins", "1")]);
    }

    #[test]
    fn tags_on_the_configured_visit() {
        let host = FakeHost::new(member("m-1").with_attribute("check-ins", "4"));
        assert!(check_in(&host).unwrap().contains(&Effect::tag("regular")));
        let host = host.with_config(serde_json::json!({"visits_for_regular": 9}));
        assert!(!check_in(&host).unwrap().contains(&Effect::tag("regular")));
    }

    #[test]
    fn rejects_bad_configuration_and_attributes() {
        let host =
            FakeHost::new(member("m-1")).with_config(serde_json::json!({"visits_for_regular": 0}));
        assert!(matches!(check_in(&host), Err(RuleError::InvalidConfig(_))));
        let host = FakeHost::new(member("m-1").with_attribute("check-ins", "many"));
        assert!(matches!(check_in(&host), Err(RuleError::InvalidInput(_))));
    }

    #[test]
    fn fixtures_pass_natively() {
        Fixture::check::<Template>(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cases.json"));
    }
}
