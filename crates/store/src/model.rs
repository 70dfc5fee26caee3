//! The records rulebox keeps. WIT-generated types (events, effects, products…) are stored
//! as they are; these are the host's own.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use rulebox_world::{Activity, Date, GeoPoint, HeldCoupon, PaidPlan, ProductCount, Timestamp};

/// A brand (tenant) and its platform-level settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Brand {
    /// Lower-case letters, digits and `-`, at most 64 bytes.
    pub id: String,
    pub name: String,
    /// Length of the rolling activity window members are measured over.
    pub window_days: u32,
    /// The brand's time zone as minutes east of UTC (opening hours, day buckets).
    pub utc_offset_minutes: i32,
}

impl Default for Brand {
    fn default() -> Self {
        Brand {
            id: String::new(),
            name: String::new(),
            window_days: 365,
            utc_offset_minutes: 480,
        }
    }
}

/// A block of points from one award, tracked so expiry and deductions know what is left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PointLot {
    /// Ledger sequence number of the award.
    pub seq: u64,
    /// Points of the award not yet spent, expired or reversed.
    pub remaining: i64,
    pub expires_at: Option<Timestamp>,
    /// The order whose purchase earned the points, for refund reversal.
    pub order_id: Option<String>,
    /// How many awards this lot holds: older lots with the same expiry are merged into one
    /// to keep the member record small (`seq` is then the newest of them).
    #[serde(default = "one")]
    pub awards: u32,
}

fn one() -> u32 {
    1
}

/// A member and everything the host knows about them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Member {
    pub id: String,
    pub tier: String,
    /// Always the sum of the member's ledger.
    pub points: i64,
    pub tags: BTreeSet<String>,
    pub joined_at: Timestamp,
    /// True once a sign-up event has been applied (a second one is refused).
    #[serde(default)]
    pub signed_up: bool,
    pub birth_date: Option<Date>,
    pub city: Option<String>,
    pub channel: Option<String>,
    /// Who invited the member (from the sign-up), for referral chains.
    pub inviter: Option<String>,
    pub staff_id: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub lifetime: Activity,
    /// Activity per local day (days since the epoch), kept for the rolling window.
    pub days: BTreeMap<i64, Activity>,
    pub last_purchase_at: Option<Timestamp>,
    /// Products bought most, most units first (at most [`MAX_FAVOURITES`]).
    #[serde(default)]
    pub favourites: Vec<ProductCount>,
    pub paid_plan: Option<PaidPlan>,
    /// Coupons held and not yet redeemed.
    pub coupons: Vec<HeldCoupon>,
    /// Coupons redeemed so far, by template.
    #[serde(default)]
    pub coupon_uses: BTreeMap<String, u32>,
    /// Unspent awards, oldest first.
    pub lots: Vec<PointLot>,
    /// Sequence number of the next ledger entry.
    pub next_seq: u64,
}

impl Member {
    /// A new member with no history.
    pub fn new(id: &str, joined_at: Timestamp) -> Self {
        Member {
            id: id.to_owned(),
            tier: "base".to_owned(),
            points: 0,
            tags: BTreeSet::new(),
            joined_at,
            signed_up: false,
            birth_date: None,
            city: None,
            channel: None,
            inviter: None,
            staff_id: None,
            attributes: BTreeMap::new(),
            lifetime: zero_activity(),
            days: BTreeMap::new(),
            last_purchase_at: None,
            favourites: Vec::new(),
            paid_plan: None,
            coupons: Vec::new(),
            coupon_uses: BTreeMap::new(),
            lots: Vec::new(),
            next_seq: 0,
        }
    }
}

/// Most products kept in a member's purchase history.
pub const MAX_FAVOURITES: usize = 20;

/// No activity.
pub fn zero_activity() -> Activity {
    Activity {
        spend: 0,
        orders: 0,
        points_earned: 0,
    }
}

/// What an operator may set on a member directly (import, API).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MemberProfile {
    pub id: String,
    pub tier: Option<String>,
    pub joined_at: Option<Timestamp>,
    pub birth_date: Option<Date>,
    pub city: Option<String>,
    pub channel: Option<String>,
    pub inviter: Option<String>,
    /// Tags to add.
    pub tags: Vec<String>,
    /// Tags to take off.
    pub remove_tags: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub paid_plan: Option<PaidPlan>,
    /// For members imported from another system: their points balance, written to the
    /// ledger as an opening award. Applied only when the member is created.
    pub opening_points: i64,
    /// For imported members: lifetime spend, orders and points so far. Applied only when
    /// the member is created.
    pub lifetime: Option<Activity>,
}

/// Why the points balance moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LedgerKind {
    Award,
    Deduct,
    Expire,
    /// Points taken back because the purchase that earned them was refunded.
    Reverse,
}

/// One append-only line of a member's points ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LedgerEntry {
    pub seq: u64,
    pub kind: LedgerKind,
    /// Signed change of the balance.
    pub amount: i64,
    /// The balance after this entry.
    pub balance: i64,
    pub reason: String,
    /// The event that caused it.
    pub event_id: String,
    /// The plugin and version that decided it; `None` for host actions (expiry, reversal).
    pub plugin: Option<String>,
    pub plugin_version: Option<String>,
    pub at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub order_id: Option<String>,
}

/// The points a purchase earned, for reversing them on refund.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderPoints {
    pub order_id: String,
    /// The event that recorded the purchase.
    pub event_id: String,
    /// Sum of the order's lines (quantity × unit price).
    pub lines_value: i64,
    pub paid: i64,
    pub points_awarded: i64,
    /// Line value refunded so far.
    pub refunded_value: i64,
    pub points_reversed: i64,
    /// The brand-local day of the purchase: a refund takes its spend off that day.
    #[serde(default)]
    pub day: i64,
}

/// A store of a brand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Store {
    pub id: String,
    pub name: String,
    pub city: String,
    pub location: GeoPoint,
    /// Opening time, minutes after local midnight.
    #[serde(default = "default_opens")]
    pub opens_at_minute: u16,
    /// Closing time, minutes after local midnight; earlier than `opens_at_minute` means
    /// the store closes after midnight.
    #[serde(default = "default_closes")]
    pub closes_at_minute: u16,
}

fn default_opens() -> u16 {
    8 * 60
}

fn default_closes() -> u16 {
    22 * 60
}

/// Units of a product at a store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Stock {
    pub store_id: String,
    pub product_id: String,
    pub quantity: u32,
}

/// An event that a plugin set to abort could not process; replayable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeadLetter {
    pub event: rulebox_world::Event,
    pub failure: rulebox_world::PluginFailure,
    /// How many times it has failed.
    pub attempts: u32,
}
