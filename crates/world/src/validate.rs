//! Checks on what comes in from outside: ids, events and their sizes. Everything here
//! answers with a message that says what is wrong and what to send instead.

use crate::{Event, EventKind, LineItem};

/// Longest id (brand, member, store, product, order, event) accepted.
pub const MAX_ID_BYTES: usize = 128;
/// Most lines in one order or refund.
pub const MAX_LINES: usize = 500;
/// Longest free-text field (channel, custom event payload) in bytes.
pub const MAX_TEXT_BYTES: usize = 64 << 10;

/// An id must be non-empty, at most [`MAX_ID_BYTES`], printable and free of `\0` and `/`.
pub fn check_id(what: &str, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!("{what} is empty; give it an id"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "{what} {:?}… is {} bytes; ids are at most {MAX_ID_BYTES}",
            &id[..16.min(id.len())],
            id.len()
        ));
    }
    if id.chars().any(|c| c.is_control() || c == '/') {
        return Err(format!(
            "{what} {id:?} contains a control character or '/'; ids must be printable and without '/'"
        ));
    }
    Ok(())
}

fn check_lines(lines: &[LineItem]) -> Result<(), String> {
    if lines.len() > MAX_LINES {
        return Err(format!(
            "{} lines is more than the {MAX_LINES} an order may have",
            lines.len()
        ));
    }
    for (i, line) in lines.iter().enumerate() {
        check_id(&format!("lines[{i}].product_id"), &line.product_id)?;
        if line.unit_price < 0 {
            return Err(format!(
                "lines[{i}].unit_price is negative ({}); prices are minor units ≥ 0",
                line.unit_price
            ));
        }
        if line.amount().is_none() {
            return Err(format!("lines[{i}]: quantity × unit_price overflows"));
        }
    }
    // The host keeps the value of an order: the lines' amounts must add up without wrapping.
    let value = lines
        .iter()
        .try_fold(0i64, |sum, line| sum.checked_add(line.amount()?));
    if value.is_none() {
        return Err(format!(
            "lines: their value (quantity × unit_price, summed) is over {} minor units; \
             split the order",
            i64::MAX
        ));
    }
    Ok(())
}

/// Latest time accepted: 9999-12-31T23:59:59.999Z, in milliseconds since 1970-01-01 UTC.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// A time must lie between 1970-01-01 and the end of 9999 (UTC), so the rules' calendar
/// arithmetic (local days, windows, expiry) stays far from overflowing.
pub fn check_time(what: &str, at: i64) -> Result<(), String> {
    if !(0..=MAX_TIME_MS).contains(&at) {
        return Err(format!(
            "{what} {at} is not a time between 1970-01-01 and 9999-12-31; send milliseconds \
             since 1970-01-01 UTC"
        ));
    }
    Ok(())
}

/// Checks an event's ids, time and amounts before anything is read or run.
pub fn check_event(event: &Event) -> Result<(), String> {
    check_time("occurred_at", event.occurred_at)?;
    check_id("event id", &event.id)?;
    check_id("brand", &event.brand)?;
    check_id("member_id", &event.member_id)?;
    match &event.kind {
        EventKind::SignUp(s) => {
            check_text("channel", &s.channel)?;
            if let Some(inviter) = &s.inviter {
                check_id("inviter", inviter)?;
                if inviter == &event.member_id {
                    return Err("a member cannot invite themselves".into());
                }
            }
        }
        EventKind::Purchase(p) => {
            check_id("order_id", &p.order_id)?;
            check_id("store_id", &p.store_id)?;
            check_lines(&p.lines)?;
            if p.coupons_used.len() > 20 {
                return Err(format!(
                    "{} coupons on one order; at most 20",
                    p.coupons_used.len()
                ));
            }
            for id in &p.coupons_used {
                check_id("coupons_used", id)?;
            }
            if p.total < 0 || p.paid < 0 {
                return Err(format!(
                    "total ({}) and paid ({}) must not be negative",
                    p.total, p.paid
                ));
            }
            if p.paid > p.total {
                return Err(format!(
                    "paid ({}) is more than the order total ({})",
                    p.paid, p.total
                ));
            }
        }
        EventKind::Refund(r) => {
            check_id("order_id", &r.order_id)?;
            check_lines(&r.lines)?;
            if r.refunded < 0 {
                return Err(format!("refunded ({}) must not be negative", r.refunded));
            }
        }
        EventKind::CheckIn(v) | EventKind::AppOpen(v) => {
            if let Some(store) = &v.store_id {
                check_id("store_id", store)?;
            }
            if let Some(p) = &v.location
                && (!(-90.0..=90.0).contains(&p.lat) || !(-180.0..=180.0).contains(&p.lon))
            {
                return Err(format!(
                    "location ({}, {}) is not a valid latitude/longitude",
                    p.lat, p.lon
                ));
            }
        }
        EventKind::ReferralAccepted(r) => check_id("invitee_id", &r.invitee_id)?,
        EventKind::ReviewPosted(r) => {
            check_id("review_id", &r.review_id)?;
            if !(1..=5).contains(&r.rating) {
                return Err(format!("rating {} is not between 1 and 5", r.rating));
            }
        }
        EventKind::Birthday => {}
        EventKind::ScheduledTick(t) => check_id("schedule", &t.schedule)?,
        EventKind::Custom(c) => {
            check_id("custom event name", &c.name)?;
            check_text("payload", &c.payload)?;
            serde_json::from_str::<serde_json::Value>(&c.payload)
                .map_err(|e| format!("custom event payload is not JSON: {e}"))?;
        }
    }
    Ok(())
}

fn check_text(what: &str, text: &str) -> Result<(), String> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "{what} is {} bytes; at most {MAX_TEXT_BYTES} are accepted",
            text.len()
        ));
    }
    Ok(())
}
