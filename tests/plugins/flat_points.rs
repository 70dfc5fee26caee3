// Shared source of the flat-points test plugins: two versions of one rule, so tests can
// install, activate and roll back real versions. Each crate defines VERSION and MULTIPLIER.
//
// - purchase: MULTIPLIER points per 100 minor units paid;
// - referral accepted: 10 × (4 − level) points;
// - check-in: tags the member with the balance it saw ("saw-<points>"), to prove each
//   plugin sees the effects of the ones before it.

use rulebox_sdk::prelude::*;

/// The rule.
pub struct FlatPoints;

impl Rule for FlatPoints {
    type Config = ();

    fn describe() -> Description {
        Description::new("flat-points", VERSION, "Test rule: flat points per yuan.")
            .handles(EventType::Purchase)
            .handles(EventType::ReferralAccepted)
            .handles(EventType::CheckIn)
    }

    fn on_event(ctx: &Context, _: &(), event: &Event) -> Result<Vec<Effect>, RuleError> {
        match &event.kind {
            EventKind::Purchase(p) => Ok(vec![Effect::award(p.paid / 100 * MULTIPLIER, format!("v{VERSION}"))]),
            EventKind::ReferralAccepted(r) => Ok(vec![Effect::award(10 * (4 - i64::from(r.level)), format!("referral level {}", r.level))]),
            EventKind::CheckIn(_) => Ok(vec![Effect::tag(format!("saw-{}", ctx.member().points))]),
            _ => Err(RuleError::unsupported("not handled")),
        }
    }
}

export_rule!(FlatPoints);
