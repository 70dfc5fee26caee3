//! The member as a plugin sees it: projected from the record, limited to declared fields.

use crate::sandbox::bindings::{Activity, MemberField, MemberView, Timestamp};
use crate::store::model::{Brand, Member, zero_activity};

/// The view of `member` at `at`, filling in only the fields in `reads`.
pub fn member_view(
    member: &Member,
    brand: &Brand,
    at: Timestamp,
    reads: &[MemberField],
) -> MemberView {
    let wants = |field: MemberField| reads.contains(&field);
    let activity = wants(MemberField::Activity);
    let today = rulebox_sdk::time::local_day_number(at, brand.utc_offset_minutes);
    let (window, today) = if activity {
        (
            window(member, brand, today),
            member
                .days
                .get(&today)
                .copied()
                .unwrap_or_else(zero_activity),
        )
    } else {
        (zero_activity(), zero_activity())
    };
    MemberView {
        id: member.id.clone(),
        tier: member.tier.clone(),
        points: member.points,
        tags: if wants(MemberField::Tags) {
            member.tags.iter().cloned().collect()
        } else {
            Vec::new()
        },
        joined_at: member.joined_at,
        birth_date: member.birth_date.filter(|_| wants(MemberField::BirthDate)),
        city: member.city.clone().filter(|_| wants(MemberField::City)),
        channel: member
            .channel
            .clone()
            .filter(|_| wants(MemberField::Channel)),
        lifetime: if activity {
            member.lifetime
        } else {
            zero_activity()
        },
        window,
        window_days: brand.window_days,
        today,
        last_purchase_at: member.last_purchase_at.filter(|_| activity),
        favourites: if wants(MemberField::History) {
            member.favourites.clone()
        } else {
            Vec::new()
        },
        attributes: if wants(MemberField::Attributes) {
            member
                .attributes
                .iter()
                .map(|(key, value)| crate::sandbox::bindings::Attribute {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect()
        } else {
            Vec::new()
        },
        coupons: if wants(MemberField::Coupons) {
            member
                .coupons
                .iter()
                .filter(|c| c.valid_until >= at)
                .cloned()
                .collect()
        } else {
            Vec::new()
        },
        paid_plan: member
            .paid_plan
            .clone()
            .filter(|_| wants(MemberField::PaidPlan)),
    }
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
