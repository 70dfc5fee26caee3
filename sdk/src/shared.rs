//! Conveniences both sides of the contract need on their own copies of the WIT types (the
//! SDK's from wit-bindgen, the host's from wasmtime): written once, expanded in each crate.

/// Implements `EventKind::event_type`, `QueryKind::query_type`, `Effect::points_delta`,
/// `LineItem::amount`, `StoreInfo::nearest_first`, `MemberView::blank` and `MemberView::only` for the WIT types found under `$types`, with
/// `MemberField` found at `$field`.
#[doc(hidden)]
#[macro_export]
macro_rules! __shared_impls {
    ($field:path, $($types:tt)*) => {
        impl $($types)*::MemberView {
            /// A member with nothing known: tier "base", no points, tags or history.
            pub fn blank(id: &str) -> Self {
                let none = $($types)*::Activity { spend: 0, orders: 0, points_earned: 0 };
                Self {
                    id: id.to_owned(),
                    tier: "base".to_owned(),
                    points: 0,
                    tags: Vec::new(),
                    joined_at: 0,
                    birth_date: None,
                    city: None,
                    channel: None,
                    lifetime: none,
                    window: none,
                    window_days: 365,
                    today: none,
                    last_purchase_at: None,
                    favourites: Vec::new(),
                    attributes: Vec::new(),
                    coupons: Vec::new(),
                    paid_plan: None,
                }
            }

            /// The view with only the fields in `reads` filled in (plus the ones every rule
            /// gets: id, tier, points, joined-at): what the platform hands a rule.
            pub fn only(mut self, reads: &[$field]) -> Self {
                use $field as F;
                let none = $($types)*::Activity { spend: 0, orders: 0, points_earned: 0 };
                if !reads.contains(&F::Tags) {
                    self.tags.clear();
                }
                if !reads.contains(&F::BirthDate) {
                    self.birth_date = None;
                }
                if !reads.contains(&F::City) {
                    self.city = None;
                }
                if !reads.contains(&F::Channel) {
                    self.channel = None;
                }
                if !reads.contains(&F::Activity) {
                    (self.lifetime, self.window, self.today) = (none, none, none);
                    self.last_purchase_at = None;
                }
                if !reads.contains(&F::History) {
                    self.favourites.clear();
                }
                if !reads.contains(&F::Attributes) {
                    self.attributes.clear();
                }
                if !reads.contains(&F::Coupons) {
                    self.coupons.clear();
                }
                if !reads.contains(&F::PaidPlan) {
                    self.paid_plan = None;
                }
                self
            }
        }

        impl $($types)*::EventKind {
            /// The kind of this event, without its data.
            pub fn event_type(&self) -> $($types)*::EventType {
                use $($types)*::{EventKind as K, EventType as T};
                match self {
                    K::SignUp(_) => T::SignUp,
                    K::Purchase(_) => T::Purchase,
                    K::Refund(_) => T::Refund,
                    K::CheckIn(_) => T::CheckIn,
                    K::AppOpen(_) => T::AppOpen,
                    K::ReferralAccepted(_) => T::ReferralAccepted,
                    K::ReviewPosted(_) => T::ReviewPosted,
                    K::Birthday => T::Birthday,
                    K::ScheduledTick(_) => T::ScheduledTick,
                    K::Custom(_) => T::Custom,
                }
            }
        }

        impl $($types)*::StoreInfo {
            /// The stores within `radius_m`, nearest first (ties by id), at most `limit`:
            /// what `host.stores-near` answers.
            pub fn nearest_first(stores: impl IntoIterator<Item = Self>, radius_m: u32, limit: u32) -> Vec<Self> {
                let mut near: Vec<Self> = stores.into_iter().filter(|s| s.distance_m <= radius_m).collect();
                near.sort_by(|a, b| a.distance_m.cmp(&b.distance_m).then_with(|| a.id.cmp(&b.id)));
                near.truncate(limit as usize);
                near
            }
        }

        impl $($types)*::QueryKind {
            /// The kind of this query, without its data.
            pub fn query_type(&self) -> $($types)*::QueryType {
                use $($types)*::{QueryKind as K, QueryType as T};
                match self {
                    K::CouponEligibility(_) => T::CouponEligibility,
                    K::Recommendation(_) => T::Recommendation,
                }
            }
        }

        impl $($types)*::Effect {
            /// The points this effect adds to (positive) or removes from (negative) the
            /// balance.
            pub fn points_delta(&self) -> i64 {
                match self {
                    $($types)*::Effect::AwardPoints(award) => award.amount,
                    $($types)*::Effect::DeductPoints(deduction) => -deduction.amount,
                    _ => 0,
                }
            }
        }

        impl $($types)*::LineItem {
            /// `quantity × unit_price`, or `None` on overflow.
            pub fn amount(&self) -> Option<i64> {
                self.unit_price.checked_mul(i64::from(self.quantity))
            }
        }
    };
}
