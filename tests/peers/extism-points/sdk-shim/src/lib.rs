//! `rulebox_sdk` for the Extism peer: the real SDK re-exported, except that
//! [`export_rule!`] expands to nothing. The points-accrual sources end with
//! `export_rule!(PointsAccrual)`, which would export the component interface and import the
//! `rulebox:plugin/host` functions — imports an Extism host cannot satisfy. The Extism
//! plug-in exports its own `on_event` instead.

pub use rulebox_sdk_real::*;

/// The real prelude, with the no-op [`export_rule!`].
pub mod prelude {
    pub use crate::export_rule;
    pub use rulebox_sdk_real::{
        Answer, Context, Description, Effect, Event, EventKind, EventType, MemberField, Money,
        Points, Query, QueryKind, QueryType, Rule, RuleError, Timestamp,
    };
}

/// Expands to nothing: see the crate docs.
#[macro_export]
macro_rules! export_rule {
    ($rule:ty) => {};
}
