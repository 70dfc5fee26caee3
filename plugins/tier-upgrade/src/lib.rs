//! Tier upgrade: an airline / credit-card style tier ladder. Members climb the ladder as soon
//! as a purchase makes them qualify, and step down at most one tier at the end of each
//! qualification period in which they no longer qualify for the tier they hold.
//!
//! Qualification is measured on the member's rolling window (`member.window`: spend and
//! points earned over the brand's `window_days`, as the host computes them at the event
//! time). On a purchase the host has already counted the purchase itself and the points the
//! rules earlier in the chain awarded for it, so put this rule **after** points accrual.
//!
//! - **Sign-up**: a member whose tier is not on the ladder is put on the entry (first) tier
//!   and given its tag. A member who already holds a ladder tier keeps it and only gets that
//!   tier's tag if they lack it.
//! - **Purchase**: if the member qualifies for a tier above their own, they move straight to
//!   the *highest* tier they qualify for (levels may be skipped): `SetTier`, the reached
//!   tier's welcome coupon (only that tier's, not those of skipped levels), the old tier's tag
//!   (and any other ladder tag the member carries) removed, the new tier's tag added, and a
//!   `push` notification `tier-upgraded` with `tier=<name>`. A purchase never downgrades.
//! - **Scheduled tick of `downgrade_schedule`**: a member who no longer qualifies for their
//!   tier drops exactly one tier, even if they qualify for nothing at all, but never below
//!   the `tier_floor` of a paid plan that has not expired (`expires_at > occurred_at`).
//!   Tags are swapped as above; no coupon and no notification. Ticks of other schedules do
//!   nothing.
//!
//! A member whose tier is not on the ladder is treated as being on the entry tier: a purchase
//! may upgrade them, a downgrade tick leaves them alone. The entry tier needs no
//! qualification, so its thresholds are only checked for rising along the ladder. A live
//! paid plan whose `tier_floor` is not on the ladder is an `invalid-input` error when it
//! would decide a downgrade.
//!
//! Configuration (every key optional):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `tiers` | green (0, 0) → gold (50000, 500) → black (200000, 2000) | the ladder, entry tier first; each tier as below |
//! | `qualify_by` | `"either"` | `"spend"`, `"points"` or `"either"`: which window measure qualifies |
//! | `downgrade_schedule` | `"period-end"` | the tick schedule that ends a qualification period |
//! | `utc_offset_minutes` | `480` | the brand's time zone, for the local dates in reasons |
//!
//! Each tier (only `name` is required):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `name` | — | the tier's name, as set on the member |
//! | `min_spend` | `0` | window spend (minor units) that qualifies |
//! | `min_points` | `0` | window points earned that qualify |
//! | `welcome_coupon` | none | coupon template issued on an upgrade to this tier |
//! | `coupon_valid_days` | `30` | days the welcome coupon is valid from the upgrade |
//! | `tag` | `"tier-<name>"` | tag carried on this tier (`""` for none) |
//!
//! Thresholds at or above the tier's value qualify. The thresholds that `qualify_by` counts
//! must rise strictly from each tier to the next. An empty ladder, duplicate names or tags,
//! a negative threshold or an unknown `qualify_by` are `invalid-config` errors.

mod config;

pub use config::{Config, Ladder, QualifyBy, Tier};

use rulebox_sdk::prelude::*;
use rulebox_sdk::time::{DAY_MS, local};
use rulebox_sdk::{LogLevel, MemberView};

/// The rule.
pub struct TierUpgrade;

impl Rule for TierUpgrade {
    type Config = Ladder;

    fn describe() -> Description {
        Description::new(
            "tier-upgrade",
            env!("CARGO_PKG_VERSION"),
            "Tier ladder: upgrade on qualifying purchases, downgrade one step at period end.",
        )
        .handles(EventType::Purchase)
        .handles(EventType::ScheduledTick)
        .handles(EventType::SignUp)
        .reads(MemberField::Activity)
        .reads(MemberField::PaidPlan)
        .reads(MemberField::Tags)
    }

    fn on_event(ctx: &Context, ladder: &Ladder, event: &Event) -> Result<Vec<Effect>, RuleError> {
        let date = local_date(event.occurred_at, ladder.config().utc_offset_minutes)?;
        let member = ctx.member();
        match &event.kind {
            EventKind::SignUp(_) => Ok(sign_up(ladder, member)),
            EventKind::Purchase(_) => upgrade(ladder, member, event.occurred_at, &date),
            EventKind::ScheduledTick(tick)
                if tick.schedule == ladder.config().downgrade_schedule =>
            {
                downgrade(ctx, ladder, member, event.occurred_at, &date)
            }
            EventKind::ScheduledTick(_) => Ok(Vec::new()),
            other => Err(RuleError::unsupported(format!(
                "tier-upgrade does not handle {:?} events",
                other.event_type()
            ))),
        }
    }
}

export_rule!(TierUpgrade);

/// Sign-up: members off the ladder start on the entry tier; members on it get their tag.
fn sign_up(ladder: &Ladder, member: &MemberView) -> Vec<Effect> {
    match ladder.position(&member.tier) {
        None => {
            let entry = &ladder.tiers()[0];
            let mut effects = vec![Effect::set_tier(
                entry.name.clone(),
                format!("new member starts on {}", entry.name),
            )];
            effects.extend(retag(ladder, member, None, 0));
            effects
        }
        Some(position) => match ladder.tiers()[position].tag() {
            Some(tag) if !member.has_tag(&tag) => vec![Effect::tag(tag)],
            _ => Vec::new(),
        },
    }
}

/// Purchase: straight to the highest tier the window qualifies for, if above the current one.
fn upgrade(
    ladder: &Ladder,
    member: &MemberView,
    at: Timestamp,
    date: &str,
) -> Result<Vec<Effect>, RuleError> {
    let current = ladder.current(&member.tier);
    let target = ladder.highest_qualified(&member.window);
    if target <= current {
        return Ok(Vec::new());
    }
    let tier = &ladder.tiers()[target];
    let mut effects = vec![Effect::set_tier(
        tier.name.clone(),
        format!(
            "qualified for {} on {date}: {}",
            tier.name,
            measures(member)
        ),
    )];
    if let Some(template) = &tier.welcome_coupon {
        let until = i64::from(tier.coupon_valid_days)
            .checked_mul(DAY_MS)
            .and_then(|valid| at.checked_add(valid))
            .ok_or_else(|| {
                RuleError::invalid_input(format!(
                    "a coupon valid {} days from {at} ends out of range",
                    tier.coupon_valid_days
                ))
            })?;
        effects.push(Effect::coupon(template.clone(), at, until));
    }
    effects.extend(retag(ladder, member, Some(current), target));
    effects.push(Effect::notify(
        "push",
        "tier-upgraded",
        &[("tier", tier.name.as_str())],
    ));
    Ok(effects)
}

/// End of a qualification period: one step down for a member who no longer qualifies,
/// never below a live paid plan's floor.
fn downgrade(
    ctx: &Context,
    ladder: &Ladder,
    member: &MemberView,
    at: Timestamp,
    date: &str,
) -> Result<Vec<Effect>, RuleError> {
    let current = ladder.current(&member.tier);
    if current == 0 || ladder.qualifies(current, &member.window) {
        return Ok(Vec::new());
    }
    if let Some(plan) = member.paid_plan.as_ref().filter(|p| p.expires_at > at) {
        let floor = ladder.position(&plan.tier_floor).ok_or_else(|| {
            RuleError::invalid_input(format!(
                "paid plan {:?} has tier_floor {:?}, which is not on the ladder ({ladder})",
                plan.plan, plan.tier_floor
            ))
        })?;
        if current <= floor {
            ctx.log(
                LogLevel::Info,
                "tier kept by paid plan floor",
                &[("tier", member.tier.as_str()), ("plan", plan.plan.as_str())],
            );
            return Ok(Vec::new());
        }
    }
    let from = &ladder.tiers()[current];
    let to = &ladder.tiers()[current - 1];
    let mut effects = vec![Effect::set_tier(
        to.name.clone(),
        format!(
            "{} not kept at {} on {date}: {}",
            from.name,
            ladder.config().downgrade_schedule,
            measures(member)
        ),
    )];
    effects.extend(retag(ladder, member, Some(current), current - 1));
    Ok(effects)
}

/// Tag changes for a move from `from` (if the member was on the ladder) to `to`: the old
/// tier's tag and any other ladder tag the member carries are removed, then the new tier's
/// tag is added.
fn retag(ladder: &Ladder, member: &MemberView, from: Option<usize>, to: usize) -> Vec<Effect> {
    let mut removed: Vec<String> = Vec::new();
    if let Some(tag) = from
        .filter(|&f| f != to)
        .and_then(|f| ladder.tiers()[f].tag())
    {
        removed.push(tag);
    }
    for (i, tier) in ladder.tiers().iter().enumerate() {
        if let Some(tag) = tier.tag().filter(|t| i != to && member.has_tag(t))
            && !removed.contains(&tag)
        {
            removed.push(tag);
        }
    }
    let mut effects: Vec<Effect> = removed.into_iter().map(Effect::untag).collect();
    if let Some(tag) = ladder.tiers()[to].tag() {
        effects.push(Effect::tag(tag));
    }
    effects
}

/// The window figures a decision was made on, for the reason text.
fn measures(member: &MemberView) -> String {
    format!(
        "spend {}, points {} in the last {} days",
        member.window.spend, member.window.points_earned, member.window_days
    )
}

/// The brand-local date of `at` as `YYYY-MM-DD`.
fn local_date(at: Timestamp, utc_offset_minutes: i32) -> Result<String, RuleError> {
    let date = local(at, utc_offset_minutes)?.date;
    Ok(format!(
        "{:04}-{:02}-{:02}",
        date.year, date.month, date.day
    ))
}

#[cfg(test)]
mod tests;
