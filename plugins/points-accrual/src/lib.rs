//! Points accrual: points for purchases — at a rate, multiplied by tier, by product or
//! category and by campaign window, plus a first-purchase bonus — and for sign-ups,
//! check-ins, reviews and referrals, under a per-member daily cap, optionally expiring.
//!
//! Configuration (every key optional; percentages are multipliers: `100` = normal,
//! `150` = 1.5×, `200` = double, `0` = nothing):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `rate` | `{"points": 1, "per": 100}` | purchase points: `points` for every `per` minor units paid (1 point per ¥1) |
//! | `rounding` | `"down"` | how a purchase's points are rounded, once at the end: `"down"`, `"up"` or `"nearest"` (halves up) |
//! | `tier_multipliers` | `{}` | percent by member tier, e.g. `{"gold": 150}`; unlisted tiers earn 100 |
//! | `category_multipliers` | `{}` | percent for order lines by category, e.g. `{"seasonal": 200}` |
//! | `product_multipliers` | `{}` | percent for order lines by product id; overrides the line's category |
//! | `campaigns` | `[]` | campaign windows (below); when several apply, the **highest multiplier wins** (ties: the first listed) |
//! | `first_purchase_bonus` | `0` | flat points on the member's first order (`lifetime.orders == 1`) |
//! | `sign_up_points` | `0` | points for signing up |
//! | `check_in_points` | `0` | points per check-in |
//! | `review_points` | `0` | points per review |
//! | `review_photo_bonus` | `0` | extra points for a review with photos |
//! | `referral_points` | `[0, 0, 0]` | points when an invitee joins, for referral level 1, 2 and 3 |
//! | `daily_cap` | `0` | most points a member may earn per local day (0 = no cap); see below |
//! | `expiry_months` | none | points expire at the end of the Nth month after the event's month (1..=1200); none = never |
//! | `utc_offset_minutes` | `480` | the brand's time zone (campaign weekdays/hours, expiry dates) |
//! | `currency_symbol` | `"¥"` | shown in reasons, e.g. "1pt/¥1" (money is shown as minor units / 100) |
//!
//! A campaign is `{"name", "from", "until", "weekdays", "hours", "multiplier"}`: it applies
//! from `from` (inclusive) until `until` (exclusive), both event time in milliseconds since
//! the epoch; on the local `weekdays` listed (`["Sat", "Sun"]`; empty or absent = every
//! day); within local `hours` `{"from": 14, "until": 17}` = 14:00 to 16:59:59.999 (absent =
//! all day); and multiplies the purchase's points by `multiplier` percent.
//!
//! ## Purchases
//! `paid` is spread over the lines in proportion to their value (quantity × unit price), so
//! a discount lowers every line's earning; each line's share earns at the rate times the
//! line's multiplier (product, else category, else 100%); the sum is multiplied by the tier
//! and campaign multipliers and **rounded once**, at the end. That is one award, whose reason
//! says what applied, e.g. `purchase o-1: 1pt/¥1 ×1.5 gold ×2 double-points-weekend
//! (seasonal ×2)`. The first-purchase bonus is a separate award. The host has already
//! counted the purchase when the rule runs, so the member's first order is the one where
//! `lifetime.orders == 1`.
//!
//! ## Other events
//! Sign-up, check-in, review (+ photo bonus) and referral (by level) earn the configured
//! flat points. A zero amount gives no effect at all (the host refuses awards of 0 points).
//!
//! ## Daily cap
//! `daily_cap` limits what a member may hold in `today.points_earned` — the points the member
//! earned on the brand's local day so far **from all rules**, including rules that ran
//! before this one for the same event. This rule awards only what still fits under the cap
//! (base accrual first, then bonuses; a shortened award says so in its reason) and nothing
//! once the cap is reached.
//!
//! ## Expiry and refunds
//! With `expiry_months`, every award expires at the last millisecond of the local month N
//! months after the event's month (12 → points earned in March 2026 expire at the end of
//! March 2027). Refunds are **not** handled here: the host reverses the points an order
//! earned (all awards tied to the order, bonuses included) in proportion to the refunded
//! line value.
//!
//! Invalid configuration is a [`RuleError::InvalidConfig`] naming the key; an impossible
//! event (negative amounts, referral level outside 1..=3) is a [`RuleError::InvalidInput`];
//! arithmetic never wraps.

pub mod accrual;
pub mod config;

use rulebox_sdk::limits::MAX_TEXT_BYTES;
use rulebox_sdk::prelude::*;
use rulebox_sdk::time::{end_of_month_after, local};

pub use config::Config;

/// The rule.
pub struct PointsAccrual;

impl Rule for PointsAccrual {
    type Config = Config;

    fn describe() -> Description {
        Description::new(
            "points-accrual",
            env!("CARGO_PKG_VERSION"),
            "Points for purchases (rate, tier, product, category and campaign multipliers, \
             first-purchase bonus), sign-ups, check-ins, reviews and referrals, with a daily cap.",
        )
        .handles(EventType::Purchase)
        .handles(EventType::SignUp)
        .handles(EventType::CheckIn)
        .handles(EventType::ReviewPosted)
        .handles(EventType::ReferralAccepted)
        .reads(MemberField::Activity)
    }

    fn on_event(ctx: &Context, config: &Config, event: &Event) -> Result<Vec<Effect>, RuleError> {
        let awards = awards_for(ctx, config, event)?;
        let awards = if config.daily_cap > 0 && !awards.is_empty() {
            apply_daily_cap(config.daily_cap, ctx.member().today.points_earned, awards)
        } else {
            awards
                .into_iter()
                .filter(|(points, _)| *points > 0)
                .collect()
        };
        if awards.is_empty() {
            return Ok(Vec::new());
        }
        let expires_at = config
            .expiry_months
            .map(|months| end_of_month_after(event.occurred_at, months, config.utc_offset_minutes))
            .transpose()?;
        Ok(awards
            .into_iter()
            .map(|(amount, reason)| {
                Effect::AwardPoints(rulebox_sdk::Award {
                    amount,
                    reason: fit_reason(reason),
                    expires_at,
                })
            })
            .collect())
    }
}

export_rule!(PointsAccrual);

/// The awards the event earns before the daily cap, in order; amounts may be zero.
fn awards_for(
    ctx: &Context,
    config: &Config,
    event: &Event,
) -> Result<Vec<(Points, String)>, RuleError> {
    Ok(match &event.kind {
        EventKind::Purchase(purchase) => {
            let member = ctx.member();
            let local = local(event.occurred_at, config.utc_offset_minutes)?;
            let base = accrual::purchase_points(
                config,
                &member.tier,
                purchase,
                event.occurred_at,
                &local,
            )?;
            let mut awards = vec![(base.points, base.reason)];
            if member.lifetime.orders == 1 {
                awards.push((
                    config.first_purchase_bonus,
                    format!("first purchase bonus (order {})", purchase.order_id),
                ));
            }
            awards
        }
        EventKind::SignUp(sign_up) => vec![(
            config.sign_up_points,
            format!("sign-up bonus ({})", sign_up.channel),
        )],
        EventKind::CheckIn(visit) => vec![(
            config.check_in_points,
            match &visit.store_id {
                Some(store) => format!("check-in at store {store}"),
                None => "check-in".to_owned(),
            },
        )],
        EventKind::ReviewPosted(review) => {
            if review.has_photo {
                vec![(
                    rulebox_sdk::money::add(config.review_points, config.review_photo_bonus)?,
                    format!("review {} with photos", review.review_id),
                )]
            } else {
                vec![(config.review_points, format!("review {}", review.review_id))]
            }
        }
        EventKind::ReferralAccepted(referral) => {
            let level = referral.level;
            let Some(&points) = usize::from(level)
                .checked_sub(1)
                .and_then(|i| config.referral_points.get(i))
            else {
                return Err(RuleError::invalid_input(format!(
                    "referral level {level} is outside 1..=3"
                )));
            };
            vec![(
                points,
                format!("referral of {} (level {level})", referral.invitee_id),
            )]
        }
        other => {
            return Err(RuleError::unsupported(format!(
                "points-accrual does not handle {:?} events",
                other.event_type()
            )));
        }
    })
}

/// Keeps what fits under `cap` given the `earned_today` points, in order: an award that no
/// longer fits whole is shortened (and says so), later ones are dropped; zero awards are
/// dropped.
pub fn apply_daily_cap(
    cap: Points,
    earned_today: Points,
    awards: Vec<(Points, String)>,
) -> Vec<(Points, String)> {
    let mut room = cap.saturating_sub(earned_today.max(0)).max(0);
    let mut kept = Vec::new();
    for (points, reason) in awards {
        let granted = points.min(room);
        if granted <= 0 {
            continue;
        }
        room -= granted;
        if granted < points {
            kept.push((
                granted,
                format!("{reason}; {granted} of {points} points, daily cap {cap} reached"),
            ));
        } else {
            kept.push((points, reason));
        }
    }
    kept
}

/// Shortens a reason to what the host accepts, on a character boundary.
fn fit_reason(reason: String) -> String {
    shorten(reason, MAX_TEXT_BYTES)
}

/// Shortens `reason` to at most `max` bytes (`max` ≥ 3), ending it with "…" when cut.
pub fn shorten(mut reason: String, max: usize) -> String {
    if reason.len() > max {
        let mut end = max - '…'.len_utf8();
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push('…');
    }
    reason
}

#[cfg(test)]
mod tests;
