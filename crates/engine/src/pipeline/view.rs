//! The member as a plugin sees it: projected from the record, limited to declared fields.

use rulebox_store::model::{Brand, Member, zero_activity};
use rulebox_world::{Activity, Attribute, HeldCoupon, MemberField, MemberView, Timestamp};

/// The view of `member` at `at`, filling in only the fields in `reads` (the same projection
/// the SDK's fake host applies, so native tests see what production shows).
pub fn member_view(
    member: &Member,
    brand: &Brand,
    at: Timestamp,
    reads: &[MemberField],
) -> MemberView {
    let today = rulebox_sdk::time::local_day_number(at, brand.utc_offset_minutes);
    MemberView {
        id: member.id.clone(),
        tier: member.tier.clone(),
        points: member.points,
        tags: member.tags.iter().cloned().collect(),
        joined_at: member.joined_at,
        birth_date: member.birth_date,
        city: member.city.clone(),
        channel: member.channel.clone(),
        lifetime: member.lifetime,
        window: window(member, brand, today),
        window_days: brand.window_days,
        today: member
            .days
            .get(&today)
            .copied()
            .unwrap_or_else(zero_activity),
        last_purchase_at: member.last_purchase_at,
        favourites: member.favourites.clone(),
        attributes: member
            .attributes
            .iter()
            .map(|(key, value)| Attribute {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        // Coupons past their validity are of no use to a rule.
        coupons: member
            .coupons
            .iter()
            .filter(|c| c.valid_until >= at)
            .map(|c| HeldCoupon {
                uses: member.coupon_uses.get(&c.template_id).copied().unwrap_or(0),
                ..c.clone()
            })
            .collect(),
        paid_plan: member.paid_plan.clone(),
    }
    .only(reads)
}

/// Activity over the brand's rolling window ending on local day `today`.
fn window(member: &Member, brand: &Brand, today: i64) -> Activity {
    let first = today - i64::from(brand.window_days) + 1;
    member
        .days
        .range(first..=today)
        .fold(zero_activity(), |mut sum, (_, day)| {
            sum.spend += day.spend;
            sum.orders += day.orders;
            sum.points_earned += day.points_earned;
            sum
        })
}
