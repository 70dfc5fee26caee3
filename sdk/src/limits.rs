//! What the platform accepts in effects: a rule that stays within these never has an effect
//! refused.

/// Longest tier name, tag, coupon template id, attribute key, notification channel or
/// template, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest award or deduction reason, or attribute value, in bytes.
pub const MAX_TEXT_BYTES: usize = 1024;
/// Largest single award or deduction, in points.
pub const MAX_POINTS: i64 = 1_000_000_000_000;
/// Most tags a member carries.
pub const MAX_TAGS: usize = 256;
/// Most attributes a member carries.
pub const MAX_ATTRIBUTES: usize = 256;
/// Most coupons a member holds.
pub const MAX_COUPONS: usize = 500;
/// Most data fields in one notification.
pub const MAX_NOTIFICATION_FIELDS: usize = 32;
