//! Event time made local: dates, weekdays, hours, day parts and expiry dates.
//!
//! Timestamps are milliseconds since the Unix epoch in UTC (event time). Rules that reason
//! in the brand's local time (campaign hours, "end of the month") take the brand's UTC
//! offset in minutes from their configuration, e.g. `480` for China Standard Time.

pub use chrono::Weekday;
use chrono::{DateTime, Datelike, FixedOffset, Months, NaiveDate, NaiveDateTime, Timelike};

use crate::{Date, DayPart, RuleError, Timestamp};

/// Milliseconds in a day.
pub const DAY_MS: Timestamp = 86_400_000;
/// Milliseconds in an hour.
pub const HOUR_MS: Timestamp = 3_600_000;

/// An instant seen on the brand's wall clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalTime {
    /// The local calendar date.
    pub date: Date,
    /// The local day of the week.
    pub weekday: Weekday,
    /// 0..=23
    pub hour: u8,
    /// 0..=59
    pub minute: u8,
}

impl LocalTime {
    /// Minutes since local midnight, 0..1440.
    pub fn minute_of_day(&self) -> u32 {
        u32::from(self.hour) * 60 + u32::from(self.minute)
    }
}

/// `at` on the wall clock of a place `utc_offset_minutes` ahead of UTC.
pub fn local(at: Timestamp, utc_offset_minutes: i32) -> Result<LocalTime, RuleError> {
    let local = to_local(at, utc_offset_minutes)?;
    Ok(LocalTime {
        date: Date {
            year: local.year(),
            month: local.month() as u8,
            day: local.day() as u8,
        },
        weekday: local.weekday(),
        hour: local.hour() as u8,
        minute: local.minute() as u8,
    })
}

/// The instant of a local wall-clock time, e.g. `at_local(2026, 3, 15, 9, 30, 480)` for
/// 09:30 on 15 March 2026 in China Standard Time (campaign windows, fixtures).
pub fn at_local(
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    utc_offset_minutes: i32,
) -> Result<Timestamp, RuleError> {
    let local = NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|d| d.and_hms_opt(hour, minute, 0))
        .ok_or_else(|| {
            RuleError::invalid_input(format!(
                "{year}-{month:02}-{day:02} {hour:02}:{minute:02} is not a valid local time"
            ))
        })?;
    offset(utc_offset_minutes)?;
    from_local(local, utc_offset_minutes)
}

/// The part of the day `at` falls in, locally (boundaries as documented on [`DayPart`]).
pub fn day_part(at: Timestamp, utc_offset_minutes: i32) -> Result<DayPart, RuleError> {
    let minute = local(at, utc_offset_minutes)?.minute_of_day();
    Ok(match minute {
        360..630 => DayPart::Breakfast,
        630..840 => DayPart::Lunch,
        840..1050 => DayPart::AfternoonTea,
        1050..1320 => DayPart::Evening,
        _ => DayPart::LateNight,
    })
}

/// The last millisecond of the local calendar month `months` after the month of `at`:
/// `end_of_month_after(t, 12, tz)` for points earned in March 2026 is 2027-03-31 23:59:59.999
/// local time — the common "expire at the end of the 12th month" policy.
pub fn end_of_month_after(
    at: Timestamp,
    months: u32,
    utc_offset_minutes: i32,
) -> Result<Timestamp, RuleError> {
    let local = to_local(at, utc_offset_minutes)?;
    let first_of_month = NaiveDate::from_ymd_opt(local.year(), local.month(), 1)
        .expect("the first of an existing month exists");
    let first_of_following = first_of_month
        .checked_add_months(Months::new(months.saturating_add(1)))
        .ok_or_else(|| {
            RuleError::invalid_input(format!("{months} months from {at} is out of range"))
        })?;
    let midnight = first_of_following
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists");
    Ok(from_local(midnight, utc_offset_minutes)? - 1)
}

/// Whether `at` falls, locally, in the month of `birth`.
pub fn in_birthday_month(
    birth: &Date,
    at: Timestamp,
    utc_offset_minutes: i32,
) -> Result<bool, RuleError> {
    Ok(local(at, utc_offset_minutes)?.date.month == birth.month)
}

/// The local date of `at` as days since 1970-01-01, for per-day counters and caps. Times
/// beyond what a calendar holds give the first or last day of `Timestamp`'s range rather
/// than overflow (the host accepts only years 1970 to 9999).
pub fn local_day_number(at: Timestamp, utc_offset_minutes: i32) -> Timestamp {
    at.saturating_add(Timestamp::from(utc_offset_minutes) * 60_000)
        .div_euclid(DAY_MS)
}

fn offset(utc_offset_minutes: i32) -> Result<FixedOffset, RuleError> {
    FixedOffset::east_opt(utc_offset_minutes * 60).ok_or_else(|| {
        RuleError::invalid_config(format!(
            "UTC offset of {utc_offset_minutes} minutes is not between -1440 and 1440"
        ))
    })
}

fn to_local(at: Timestamp, utc_offset_minutes: i32) -> Result<DateTime<FixedOffset>, RuleError> {
    let utc = DateTime::from_timestamp_millis(at)
        .ok_or_else(|| RuleError::invalid_input(format!("timestamp {at} is out of range")))?;
    Ok(utc.with_timezone(&offset(utc_offset_minutes)?))
}

fn from_local(local: NaiveDateTime, utc_offset_minutes: i32) -> Result<Timestamp, RuleError> {
    let seconds = i64::from(utc_offset_minutes) * 60;
    Ok(local.and_utc().timestamp_millis() - seconds * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CST: i32 = 480;
    /// 2026-03-15T01:30:00Z = 09:30 in Shanghai, a Sunday.
    const T: Timestamp = 1_773_538_200_000;

    #[test]
    fn day_numbers_saturate_instead_of_overflowing() {
        assert_eq!(
            local_day_number(Timestamp::MAX, CST),
            Timestamp::MAX / DAY_MS
        );
        assert_eq!(
            local_day_number(Timestamp::MIN, -CST),
            Timestamp::MIN.div_euclid(DAY_MS)
        );
    }

    #[test]
    fn local_time_applies_the_offset() {
        let l = local(T, CST).unwrap();
        assert_eq!((l.date.year, l.date.month, l.date.day), (2026, 3, 15));
        assert_eq!((l.hour, l.minute), (9, 30));
        assert_eq!(l.weekday, Weekday::Sun);
        assert_eq!(local(T, 0).unwrap().hour, 1);
    }

    #[test]
    fn day_parts_follow_the_documented_boundaries() {
        assert_eq!(day_part(T, CST).unwrap(), DayPart::Breakfast);
        assert_eq!(day_part(T + HOUR_MS, CST).unwrap(), DayPart::Lunch); // 10:30 exactly
        assert_eq!(day_part(T + HOUR_MS - 1, CST).unwrap(), DayPart::Breakfast);
        assert_eq!(
            day_part(T + 5 * HOUR_MS, CST).unwrap(),
            DayPart::AfternoonTea
        );
        assert_eq!(day_part(T + 13 * HOUR_MS, CST).unwrap(), DayPart::LateNight);
    }

    #[test]
    fn expiry_is_the_end_of_the_nth_month() {
        let end = end_of_month_after(T, 12, CST).unwrap();
        let l = local(end, CST).unwrap();
        assert_eq!(
            (l.date.year, l.date.month, l.date.day, l.hour, l.minute),
            (2027, 3, 31, 23, 59)
        );
        assert_eq!(local(end + 1, CST).unwrap().date.day, 1);
        assert!(offset(100_000).is_err());
    }

    #[test]
    fn local_times_round_trip() {
        assert_eq!(at_local(2026, 3, 15, 9, 30, CST).unwrap(), T);
        assert!(at_local(2026, 2, 30, 9, 30, CST).is_err());
    }

    #[test]
    fn day_numbers_change_at_local_midnight() {
        let midnight_cst = T - (9 * 60 + 30) * 60_000; // 2026-03-15T00:00 CST
        assert_eq!(
            local_day_number(midnight_cst, CST),
            local_day_number(midnight_cst - 1, CST) + 1
        );
    }
}
