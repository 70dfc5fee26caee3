//! How effects and host actions change a member: the points ledger, lots, aggregates.
//!
//! Invariants kept here (and checked by tests):
//! - `member.points` equals the sum of the member's ledger entries;
//! - the unspent lots sum to `max(points, 0)`;
//! - only a refund reversal can drive the balance below zero (the member owes points,
//!   paid off first by later awards);
//! - no sum wraps: every total kept (balances, lifetime and daily spend, orders, points
//!   earned, coupon uses) is added with checked arithmetic, and a change that would take one
//!   past its type's range is refused, naming the total, before anything is changed.

use rulebox_store::model::{
    LedgerEntry, LedgerKind, MAX_FAVOURITES, Member, OrderPoints, PointLot,
};
use rulebox_world::{
    Activity, Effect, HeldCoupon, LineItem, ProductCount, Purchase, Refund, Timestamp,
};

use rulebox_sdk::limits::{
    MAX_ATTRIBUTES, MAX_COUPONS, MAX_NAME_BYTES as MAX_NAME, MAX_NOTIFICATION_FIELDS, MAX_POINTS,
    MAX_TAGS, MAX_TEXT_BYTES as MAX_TEXT,
};

/// Who changes the member and why: the event and, for plugin effects, the plugin.
pub struct Cause<'a> {
    pub event_id: &'a str,
    pub at: Timestamp,
    pub plugin: Option<(&'a str, &'a str)>,
    /// The purchase's order, if the event is one: awards are tied to it.
    pub order_id: Option<&'a str>,
    /// The brand's local-day number of `at`, for day buckets.
    pub day: i64,
    pub window_days: u32,
}

/// Ledger entries and order bookkeeping produced while applying an event.
#[derive(Clone, Default)]
pub struct Changes {
    pub ledger: Vec<LedgerEntry>,
    pub order: Option<OrderPoints>,
    pub coupons_issued: u32,
}

/// The parts of a ledger entry that vary; the rest comes from the member and the cause.
struct Entry {
    kind: LedgerKind,
    amount: i64,
    reason: String,
    expires_at: Option<Timestamp>,
    order_id: Option<String>,
}

/// `total + delta`, or the error that names the total it would take out of range.
pub(crate) fn add<T: Copy + std::fmt::Display + TryFrom<i128>>(
    what: &str,
    total: T,
    delta: i128,
) -> Result<T, String>
where
    i128: From<T>,
{
    let sum = i128::from(total) + delta;
    T::try_from(sum).map_err(|_| {
        format!("{what} would go from {total} to {sum}, out of its range; nothing was changed")
    })
}

/// Writes a ledger entry and moves the balance by its amount; refused if the balance would
/// leave the range of points.
fn push_entry(
    member: &mut Member,
    changes: &mut Changes,
    cause: &Cause,
    entry: Entry,
) -> Result<(), String> {
    let Entry {
        kind,
        amount,
        reason,
        expires_at,
        order_id,
    } = entry;
    member.points = add(
        &format!("member {}'s points balance", member.id),
        member.points,
        amount.into(),
    )?;
    let seq = member.next_seq;
    member.next_seq += 1;
    changes.ledger.push(LedgerEntry {
        seq,
        kind,
        amount,
        balance: member.points,
        reason,
        event_id: cause.event_id.to_owned(),
        plugin: cause.plugin.map(|(name, _)| name.to_owned()),
        plugin_version: cause.plugin.map(|(_, version)| version.to_owned()),
        at: cause.at,
        expires_at,
        order_id,
    });
    Ok(())
}

/// Lots kept apart, newest first; older ones are merged by expiry. Small in tests, so the
/// property tests exercise the merging.
#[cfg(not(test))]
const RECENT_LOTS: usize = 32;
#[cfg(test)]
const RECENT_LOTS: usize = 3;

/// Keeps the member record small however many awards a member earns (every event rewrites
/// the record, so an ever-growing lot list made each event slower than the last): beyond
/// the newest [`RECENT_LOTS`], lots that expire at the same time become one lot. A merged
/// lot forgets its orders, so refunding a long-past order takes the reversal from the
/// soonest-expiring points instead of that order's own lot; the amount reversed is
/// unchanged (it comes from the order record). Sums, and so expiry totals, are unchanged.
fn compact_lots(member: &mut Member) {
    if member.lots.len() <= 2 * RECENT_LOTS {
        return; // compact in bursts, not on every award
    }
    let recent = member.lots.split_off(member.lots.len() - RECENT_LOTS);
    let mut merged: Vec<PointLot> = Vec::new();
    for lot in member.lots.drain(..) {
        match merged.iter_mut().find(|m| m.expires_at == lot.expires_at) {
            Some(m) => {
                m.remaining += lot.remaining;
                m.seq = m.seq.max(lot.seq);
                m.awards += lot.awards.max(1);
            }
            None => merged.push(PointLot {
                order_id: None,
                awards: lot.awards.max(1),
                ..lot
            }),
        }
    }
    merged.extend(recent);
    member.lots = merged;
}

/// Takes up to `amount` points out of the lots: the order's own lots first (for reversals),
/// then soonest-expiring first, never-expiring last.
fn consume_lots(member: &mut Member, mut amount: i64, order_id: Option<&str>) {
    let mut order: Vec<usize> = (0..member.lots.len()).collect();
    order.sort_by_key(|&i| {
        let lot = &member.lots[i];
        let own = order_id.is_some() && lot.order_id.as_deref() == order_id;
        (!own, lot.expires_at.unwrap_or(i64::MAX), lot.seq)
    });
    for i in order {
        if amount == 0 {
            break;
        }
        // Lots sum to the balance, so neither side can wrap.
        let take = member.lots[i].remaining.min(amount);
        member.lots[i].remaining -= take;
        amount -= take;
    }
    member.lots.retain(|lot| lot.remaining > 0);
}

/// The activity of the event's own day as it stands, read without pruning the window (the
/// checks before a change read it; [`bucket`] then prunes once, when it is written).
fn activity_today(member: &Member, cause: &Cause) -> Activity {
    member
        .days
        .get(&cause.day)
        .copied()
        .unwrap_or_else(rulebox_store::model::zero_activity)
}

fn bucket<'m>(member: &'m mut Member, cause: &Cause) -> &'m mut Activity {
    bucket_on(member, cause, cause.day).expect("the event's own day is in the window")
}

/// The activity of local day `day`, dropping days that left the window; `None` if `day`
/// itself is out of the window.
fn bucket_on<'m>(member: &'m mut Member, cause: &Cause, day: i64) -> Option<&'m mut Activity> {
    // A window is at least the event's own day.
    let oldest = cause.day - i64::from(cause.window_days.max(1));
    member.days.retain(|&d, _| d > oldest);
    (day > oldest).then(|| {
        member
            .days
            .entry(day)
            .or_insert_with(rulebox_store::model::zero_activity)
    })
}

/// Applies one effect a plugin decided. On error nothing must be kept: callers apply a
/// plugin's effects to a copy and keep it only if all succeed.
pub fn apply_effect(
    member: &mut Member,
    changes: &mut Changes,
    cause: &Cause,
    effect: &Effect,
) -> Result<(), String> {
    match effect {
        Effect::AwardPoints(award) => {
            if award.amount <= 0 || award.amount > MAX_POINTS {
                return Err(format!(
                    "award of {} points: amounts must be between 1 and {MAX_POINTS}",
                    award.amount
                ));
            }
            if let Some(expires) = award.expires_at
                && expires <= cause.at
            {
                return Err(format!(
                    "award expires at {expires}, not after the event time {}",
                    cause.at
                ));
            }
            check_text("award reason", &award.reason, MAX_TEXT)?;
            // Every total the award raises, checked before any is changed.
            let delta = i128::from(award.amount);
            let earned = add(
                "lifetime points earned",
                member.lifetime.points_earned,
                delta,
            )?;
            let today = add(
                "today's points earned",
                activity_today(member, cause).points_earned,
                delta,
            )?;
            let order_awarded = match changes.order.as_ref() {
                Some(order) => Some(add("the order's points", order.points_awarded, delta)?),
                None => None,
            };
            let debt = (-member.points).max(0);
            let lot = award.amount - debt.min(award.amount);
            let order_id = cause.order_id.map(str::to_owned);
            push_entry(
                member,
                changes,
                cause,
                Entry {
                    kind: LedgerKind::Award,
                    amount: award.amount,
                    reason: award.reason.clone(),
                    expires_at: award.expires_at,
                    order_id: order_id.clone(),
                },
            )?;
            if lot > 0 {
                member.lots.push(PointLot {
                    seq: member.next_seq - 1,
                    remaining: lot,
                    expires_at: award.expires_at,
                    order_id,
                    awards: 1,
                });
                compact_lots(member);
            }
            member.lifetime.points_earned = earned;
            bucket(member, cause).points_earned = today;
            if let (Some(order), Some(awarded)) = (changes.order.as_mut(), order_awarded) {
                order.points_awarded = awarded;
            }
        }
        Effect::DeductPoints(deduction) => {
            if deduction.amount <= 0 || deduction.amount > MAX_POINTS {
                return Err(format!(
                    "deduction of {} points: amounts must be between 1 and {MAX_POINTS}",
                    deduction.amount
                ));
            }
            if deduction.amount > member.points {
                return Err(format!(
                    "deducting {} points would leave member {} below zero (balance {})",
                    deduction.amount, member.id, member.points
                ));
            }
            check_text("deduction reason", &deduction.reason, MAX_TEXT)?;
            consume_lots(member, deduction.amount, None);
            push_entry(
                member,
                changes,
                cause,
                Entry {
                    kind: LedgerKind::Deduct,
                    amount: -deduction.amount,
                    reason: deduction.reason.clone(),
                    expires_at: None,
                    order_id: None,
                },
            )?;
        }
        Effect::SetTier(change) => {
            check_name("tier", &change.tier)?;
            member.tier = change.tier.clone();
        }
        Effect::IssueCoupon(grant) => {
            check_name("coupon template", &grant.template_id)?;
            if grant.valid_until <= grant.valid_from {
                return Err(format!(
                    "coupon {} is valid until {}, not after it starts ({})",
                    grant.template_id, grant.valid_until, grant.valid_from
                ));
            }
            if member.coupons.len() >= MAX_COUPONS {
                return Err(format!(
                    "member {} already holds {MAX_COUPONS} coupons",
                    member.id
                ));
            }
            changes.coupons_issued += 1;
            member.coupons.push(HeldCoupon {
                id: format!("{}#{}", cause.event_id, changes.coupons_issued),
                template_id: grant.template_id.clone(),
                valid_from: grant.valid_from,
                valid_until: grant.valid_until,
                uses: 0,
            });
        }
        Effect::AddTag(tag) => {
            check_name("tag", tag)?;
            if member.tags.len() >= MAX_TAGS && !member.tags.contains(tag) {
                return Err(format!("member {} already has {MAX_TAGS} tags", member.id));
            }
            member.tags.insert(tag.clone());
        }
        Effect::RemoveTag(tag) => {
            member.tags.remove(tag);
        }
        Effect::SetAttribute(attribute) => {
            check_name("attribute key", &attribute.key)?;
            check_text("attribute value", &attribute.value, MAX_TEXT)?;
            if member.attributes.len() >= MAX_ATTRIBUTES
                && !member.attributes.contains_key(&attribute.key)
            {
                return Err(format!(
                    "member {} already has {MAX_ATTRIBUTES} attributes",
                    member.id
                ));
            }
            member
                .attributes
                .insert(attribute.key.clone(), attribute.value.clone());
        }
        Effect::Notify(notification) => {
            check_name("notification channel", &notification.channel)?;
            check_name("notification template", &notification.template)?;
            if notification.data.len() > MAX_NOTIFICATION_FIELDS {
                return Err(format!(
                    "a notification carries at most {MAX_NOTIFICATION_FIELDS} data fields"
                ));
            }
        }
    }
    Ok(())
}

fn check_name(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_NAME {
        return Err(format!("{what} {value:?} must be 1 to {MAX_NAME} bytes"));
    }
    Ok(())
}

fn check_text(what: &str, value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!("{what} is {} bytes; at most {max}", value.len()));
    }
    Ok(())
}

/// Records a purchase in the member's aggregates, redeems the coupons it used, and opens the
/// order's points record. Fails, changing nothing, if a coupon is not held or not valid.
pub fn record_purchase(
    member: &mut Member,
    changes: &mut Changes,
    cause: &Cause,
    purchase: &Purchase,
) -> Result<(), String> {
    for (i, id) in purchase.coupons_used.iter().enumerate() {
        if purchase.coupons_used[..i].contains(id) {
            return Err(format!("coupon {id} is listed twice"));
        }
        let coupon = member.coupons.iter().find(|c| &c.id == id).ok_or_else(|| {
            format!(
                "member {} holds no coupon {id} (already used, or never issued)",
                member.id
            )
        })?;
        if !(coupon.valid_from..=coupon.valid_until).contains(&cause.at) {
            return Err(format!(
                "coupon {id} is valid from {} to {}, not at {}",
                coupon.valid_from, coupon.valid_until, cause.at
            ));
        }
    }
    // Every total the purchase raises, checked before any is changed.
    let paid = i128::from(purchase.paid);
    let spend = add(
        "paid: the member's lifetime spend",
        member.lifetime.spend,
        paid,
    )?;
    let orders = add("the member's lifetime orders", member.lifetime.orders, 1)?;
    let today = activity_today(member, cause);
    let day_spend = add("paid: the member's spend today", today.spend, paid)?;
    let day_orders = add("the member's orders today", today.orders, 1)?;
    let mut uses = Vec::new();
    for id in &purchase.coupons_used {
        if let Some(coupon) = member.coupons.iter().find(|c| &c.id == id) {
            let used = member.coupon_uses.get(&coupon.template_id).copied();
            let what = format!("uses of coupon template {}", coupon.template_id);
            uses.push((
                coupon.template_id.clone(),
                add(&what, used.unwrap_or(0), 1)?,
            ));
        }
    }
    // `check_event` refused lines whose value does not fit.
    let lines_value = line_value(&purchase.lines);

    member
        .coupons
        .retain(|c| !purchase.coupons_used.contains(&c.id));
    member.coupon_uses.extend(uses);
    (member.lifetime.spend, member.lifetime.orders) = (spend, orders);
    let day = bucket(member, cause);
    (day.spend, day.orders) = (day_spend, day_orders);
    member.last_purchase_at = Some(
        member
            .last_purchase_at
            .map_or(cause.at, |t| t.max(cause.at)),
    );
    for line in &purchase.lines {
        count_product(member, line, i64::from(line.quantity), cause.at);
    }
    changes.order = Some(OrderPoints {
        order_id: purchase.order_id.clone(),
        event_id: cause.event_id.to_owned(),
        lines_value,
        paid: purchase.paid,
        day: cause.day,
        ..OrderPoints::default()
    });
    Ok(())
}

/// Records a refund (its spend taken off the purchase's day) and reverses the points its lines earned, in proportion to the line
/// value refunded (cumulatively, so partial refunds never reverse more than was earned).
/// Returns the points reversed; refused, changing nothing, if a total would leave its range.
pub fn record_refund(
    member: &mut Member,
    changes: &mut Changes,
    cause: &Cause,
    refund: &Refund,
    order: Option<OrderPoints>,
) -> Result<i64, String> {
    let refunded = -i128::from(refund.refunded);
    let spend = add(
        "refunded: the member's lifetime spend",
        member.lifetime.spend,
        refunded,
    )?;
    // The spend comes off the purchase's day, so the window never counts a refund of a
    // purchase that already left it.
    let day = order.as_ref().map_or(cause.day, |o| o.day);
    let day_spend = match bucket_on(member, cause, day) {
        Some(bucket) => Some(add(
            "refunded: the spend of the order's day",
            bucket.spend,
            refunded,
        )?),
        None => None,
    };
    member.lifetime.spend = spend;
    if let (Some(bucket), Some(day_spend)) = (bucket_on(member, cause, day), day_spend) {
        bucket.spend = day_spend;
    }
    for line in &refund.lines {
        count_product(member, line, -i64::from(line.quantity), cause.at);
    }
    let Some(mut order) = order else {
        return Ok(0);
    };
    let refunded_now = line_value(&refund.lines);
    order.refunded_value = order
        .refunded_value
        .saturating_add(refunded_now)
        .min(order.lines_value);
    let target = if order.lines_value > 0 {
        (i128::from(order.points_awarded) * i128::from(order.refunded_value)
            / i128::from(order.lines_value)) as i64
    } else {
        0
    };
    let reverse = (target - order.points_reversed).max(0);
    if reverse > 0 {
        consume_lots(member, reverse, Some(&order.order_id));
        let reason = format!("refund of order {}", order.order_id);
        push_entry(
            member,
            changes,
            cause,
            Entry {
                kind: LedgerKind::Reverse,
                amount: -reverse,
                reason,
                expires_at: None,
                order_id: Some(order.order_id.clone()),
            },
        )?;
        // At most what the order was awarded, itself a checked total.
        order.points_reversed += reverse;
    }
    changes.order = Some(order);
    Ok(reverse)
}

/// What `lines` are worth (quantity × unit price, summed); `check_event` refuses lines whose
/// value does not fit, so this saturates only as a defence.
fn line_value(lines: &[LineItem]) -> i64 {
    lines
        .iter()
        .map(|line| line.amount().unwrap_or(i64::MAX))
        .fold(0, i64::saturating_add)
}

/// Adds `delta` units of a line's product to the member's history, keeping the top
/// [`MAX_FAVOURITES`] by quantity.
fn count_product(member: &mut Member, line: &LineItem, delta: i64, at: Timestamp) {
    match member
        .favourites
        .iter_mut()
        .find(|f| f.product_id == line.product_id)
    {
        Some(f) => {
            f.quantity = (i64::from(f.quantity) + delta).clamp(0, i64::from(u32::MAX)) as u32;
            if delta > 0 {
                f.last_at = f.last_at.max(at);
            }
        }
        None if delta > 0 => member.favourites.push(ProductCount {
            product_id: line.product_id.clone(),
            category: line.category.clone(),
            quantity: delta.min(i64::from(u32::MAX)) as u32,
            last_at: at,
        }),
        None => {}
    }
    member.favourites.retain(|f| f.quantity > 0);
    member
        .favourites
        .sort_by(|a, b| b.quantity.cmp(&a.quantity).then(b.last_at.cmp(&a.last_at)));
    member.favourites.truncate(MAX_FAVOURITES);
}

/// Expires every lot whose expiry is at or before the event time. Returns the points expired.
pub fn expire_due(
    member: &mut Member,
    changes: &mut Changes,
    cause: &Cause,
) -> Result<i64, String> {
    let due: Vec<PointLot> = member
        .lots
        .iter()
        .filter(|lot| lot.expires_at.is_some_and(|t| t <= cause.at))
        .cloned()
        .collect();
    member
        .lots
        .retain(|lot| lot.expires_at.is_none_or(|t| t > cause.at));
    // The lots sum to the balance, so the total expired fits.
    let mut total = 0;
    for lot in due {
        total += lot.remaining;
        let reason = if lot.awards > 1 {
            format!("points of {} awards up to #{} expired", lot.awards, lot.seq)
        } else {
            format!("points of award #{} expired", lot.seq)
        };
        push_entry(
            member,
            changes,
            cause,
            Entry {
                kind: LedgerKind::Expire,
                amount: -lot.remaining,
                reason,
                expires_at: lot.expires_at,
                order_id: lot.order_id,
            },
        )?;
    }
    Ok(total)
}
