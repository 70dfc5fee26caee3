//! Coupon eligibility: answers "which coupons fit this cart?" for a member at a store, and
//! which combination of them gives the best price.
//!
//! The rule answers [`QueryType::CouponEligibility`] queries and handles no events. It reads
//! the member's coupons, tags, birth date and activity (for "new members only": no orders
//! yet). The answer has one verdict per coupon the member holds, then one per claimable
//! template the member holds no coupon of; the best combination of eligible coupons; and its
//! total discount.
//!
//! # Configuration
//!
//! Every top-level key is optional:
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `templates` | `[]` | the coupon templates (below) |
//! | `utc_offset_minutes` | `480` | the brand's time zone, for hours, weekdays and birthday months |
//! | `currency_symbol` | `"¥"` | put before amounts in reasons ("spend ¥12.00 more…") |
//! | `percent_rounding` | `"down"` | how a percent discount rounds to a whole fen: `"down"`, `"up"`, `"nearest"` |
//!
//! A template (`id` and `discount` required):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `id` | required | the template id held coupons refer to; unique |
//! | `name` | the id | for operators |
//! | `discount` | required | `{"amount_off": 500}` (minor units, > 0) or `{"percent_off": 20, "max_discount": 1000}` (1..=100 percent of the eligible lines, optional cap > 0) |
//! | `min_spend` | `0` | minimum value of the eligible lines, minor units |
//! | `categories` | `[]` | line categories the coupon applies to |
//! | `products` | `[]` | product ids the coupon applies to (besides `categories`); both empty = whole cart |
//! | `tiers` | `[]` | member tiers allowed; empty = any |
//! | `tags` | `[]` | the member must carry one of these tags; empty = anyone |
//! | `new_member_only` | `false` | only for members with no orders yet (`lifetime.orders == 0`) |
//! | `birthday_month_only` | `false` | only in the member's birth month (local time); no birth date = not eligible |
//! | `valid_hours` | none | `{"from": 14, "until": 17}`: local hours, `from` inclusive, `until` exclusive (0..=23, 1..=24); `from > until` spans midnight |
//! | `valid_weekdays` | `[]` | local weekdays, `"mon"`…`"sun"`; empty = every day |
//! | `max_uses_per_member` | `0` | uses of the template allowed per member (held coupon `uses`); 0 = unlimited |
//! | `stores` | `[]` | store ids where it is valid; empty = all |
//! | `stackable` | `false` | `true`: combines with other stackable coupons; `false`: exclusive, used alone |
//! | `claimable` | `false` | a member without it may claim it: answered with `held: false` |
//!
//! A wrong value (percent out of range, negative or zero amounts, duplicate ids, bad hours or
//! weekdays, unknown keys) is a [`RuleError::InvalidConfig`] naming the template and field.
//!
//! # Verdicts
//!
//! Checks run in this order; the first that fails is the reason given:
//! empty cart ("cart is empty", for every coupon) · unknown template ("unknown coupon
//! template") · held coupon's validity, `valid_from <= at <= valid_until` ("expired", "not
//! valid yet: usable from …") · use limit ("already used 1 of 1 times") · tier ("only for
//! gold members") · tags ("only for selected members") · new members ("only for new
//! members") · birthday month ("only in your birthday month") · store ("not valid at this
//! store") · weekday ("only valid on Sat, Sun") · hours ("valid 14:00–17:00") · scope ("add
//! fruit tea to your cart to use this") · minimum spend ("spend ¥12.00 more on fruit tea to
//! use this"). An eligible coupon's reason says what it saves ("saves ¥5.00 on this order",
//! or "claim it to save ¥5.00 on this order").
//!
//! A verdict's discount is what the coupon takes off this cart alone: the amount off, or the
//! percentage of the eligible lines (computed in 128-bit integers, rounded as configured,
//! then capped at `max_discount`), never more than the eligible lines' value; 0 when not
//! eligible.
//!
//! # Best combination
//!
//! Either one exclusive coupon alone, or a set of stackable coupons with at most one per
//! template; a set's total is capped at the value of the lines its coupons cover. Largest
//! total wins; ties go to fewer coupons, then to the lexicographically smaller sorted ids.
//! The search is exhaustive over the 12 most valuable stackable coupons (see [`combine`]).
//!
//! # Limitations
//!
//! The member view lists only coupons not used up, so a claimable template's use count is
//! only known while the member holds a coupon of it; otherwise it counts as unused. Amounts
//! in reasons assume two decimal places of minor units.

pub mod combine;
pub mod config;
pub mod verdict;

use std::collections::BTreeSet;

use rulebox_sdk::prelude::*;
use rulebox_sdk::{Cart, CouponAnswer, MemberView};

use crate::config::{Config, Rules};
use crate::verdict::{EMPTY_CART, Judged, PricedCart, Situation, UNKNOWN_TEMPLATE, ineligible};

/// The rule.
pub struct CouponEligibility;

impl Rule for CouponEligibility {
    type Config = Rules;

    fn describe() -> Description {
        Description::new(
            "coupon-eligibility",
            env!("CARGO_PKG_VERSION"),
            "Which coupons fit a cart, and the best combination to use.",
        )
        .answers(QueryType::CouponEligibility)
        .reads(MemberField::Coupons)
        .reads(MemberField::Tags)
        .reads(MemberField::BirthDate)
        .reads(MemberField::Activity)
    }

    fn on_query(ctx: &Context, rules: &Rules, query: &Query) -> Result<Answer, RuleError> {
        let QueryKind::CouponEligibility(cart) = &query.kind else {
            return Err(RuleError::unsupported(
                "coupon-eligibility only answers coupon-eligibility queries",
            ));
        };
        let answer = answer(rules, ctx.member(), query.at, cart)?;
        Ok(Answer::CouponEligibility(answer))
    }
}

export_rule!(CouponEligibility);

/// The brand's coupon templates, checked and indexed from the deployed [`Config`].
impl Configuration for Rules {
    type Json = Config;

    fn from_json(config: Config) -> Result<Rules, RuleError> {
        config.validate()
    }
}

/// The answer for `member` with `cart` at `at`, under `rules`.
pub fn answer(
    rules: &Rules,
    member: &MemberView,
    at: Timestamp,
    cart: &Cart,
) -> Result<CouponAnswer, RuleError> {
    let priced = PricedCart::new(cart)?;
    let situation = Situation::new(rules, member, &priced, at)?;
    let empty = priced.is_empty();

    // Held coupons by id, then claimable templates the member holds none of, in config order.
    let mut held: Vec<_> = member.coupons.iter().collect();
    held.sort_by(|a, b| {
        (&a.id, &a.template_id, a.valid_from, a.valid_until).cmp(&(
            &b.id,
            &b.template_id,
            b.valid_from,
            b.valid_until,
        ))
    });
    let held_templates: BTreeSet<&str> = held.iter().map(|c| c.template_id.as_str()).collect();
    let mut judged: Vec<Judged> = held
        .into_iter()
        .map(|coupon| match rules.index_of(&coupon.template_id) {
            _ if empty => ineligible(&coupon.id, &coupon.template_id, true, EMPTY_CART),
            None => ineligible(&coupon.id, &coupon.template_id, true, UNKNOWN_TEMPLATE),
            Some(index) => situation.judge(index, Some(coupon)),
        })
        .collect();
    judged.extend(
        rules
            .templates
            .iter()
            .enumerate()
            .filter(|(_, t)| t.claimable && !held_templates.contains(t.id.as_str()))
            .map(|(index, template)| {
                if empty {
                    ineligible(&template.id, &template.id, false, EMPTY_CART)
                } else {
                    situation.judge(index, None)
                }
            }),
    );

    let best = combine::best_combination(&judged, &priced.amounts);
    Ok(CouponAnswer {
        verdicts: judged.into_iter().map(|j| j.verdict).collect(),
        best_combination: best.coupon_ids,
        best_discount: best.total,
    })
}

#[cfg(test)]
mod tests;
