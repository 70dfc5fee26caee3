//! Conveniences both sides of the contract need on their own copies of the WIT types (the
//! SDK's from wit-bindgen, the host's from wasmtime): written once, expanded in each crate.

/// Implements `EventKind::event_type`, `QueryKind::query_type`, `Effect::points_delta` and
/// `LineItem::amount` for the WIT types found under `$types`.
#[doc(hidden)]
#[macro_export]
macro_rules! __shared_impls {
    ($($types:tt)*) => {
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
