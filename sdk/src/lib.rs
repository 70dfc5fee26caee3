//! # rulebox-sdk: write loyalty rules as sandboxed WebAssembly plugins
//!
//! A rulebox plugin is one marketing rule (points accrual, tier upgrade, coupon eligibility,
//! a recommendation…) that a brand ships to the rulebox platform as a WebAssembly component.
//! The platform calls the rule for each event (a purchase, a sign-up, a check-in…) and applies
//! the [`Effect`]s it returns, exactly once; it asks the rule [`Query`]s (which coupons fit
//! this cart?) and returns its [`Answer`]s. A rule never changes state itself, never reads a
//! clock and never touches the network: everything it knows comes from the event and from
//! the read-only [`Context`].
//!
//! You write plain Rust over plain types and register the rule with [`export_rule!`]:
//!
//! ```
//! use rulebox_sdk::prelude::*;
//!
//! /// Brand-set parameters, with the defaults used when the brand sets nothing.
//! #[derive(serde::Deserialize)]
//! #[serde(default)]
//! struct Config {
//!     bonus: Points,
//! }
//!
//! impl Default for Config {
//!     fn default() -> Self {
//!         Config { bonus: 100 }
//!     }
//! }
//!
//! impl Validate for Config {
//!     fn validate(&self) -> Result<(), RuleError> {
//!         if self.bonus < 0 {
//!             return Err(RuleError::invalid_config("bonus must not be negative"));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! struct WelcomeBonus;
//!
//! impl Rule for WelcomeBonus {
//!     type Config = Config;
//!
//!     fn describe() -> Description {
//!         Description::new("welcome-bonus", "0.1.0", "Points for joining.")
//!             .handles(EventType::SignUp)
//!     }
//!
//!     fn on_event(_ctx: &Context, config: &Config, _event: &Event) -> Result<Vec<Effect>, RuleError> {
//!         Ok(vec![Effect::award(config.bonus, "welcome to the club")])
//!     }
//! }
//!
//! export_rule!(WelcomeBonus);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the `.wasm` file in
//! `target/wasm32-wasip2/release/` is the plugin.
//!
//! ## Configuration, once per deployment
//! A rule's [`Rule::Config`] is parsed and checked ([`Validate`], or [`Configuration`] for a
//! configuration built from what is deployed) once per deployed
//! configuration: the platform runs the rule's `init` when the plugin is deployed, which
//! prepares it, and starts every call from the memory `init` leaves, so the handlers get it
//! ready. Natively (and wherever `init` did not run) it is prepared on first use, per thread
//! and configuration, so tests need nothing special. Anything else derived from the
//! configuration alone can be kept the same way with [`Context::prepared`].
//!
//! ## Testing natively
//! With the `testing` feature, [`testing::FakeHost`] stands in for the platform so a rule is
//! unit-tested with plain `cargo test`, no Wasm involved, and [`testing::Fixture`] loads the
//! JSON fixture files that `rulebox test` also runs against the compiled plugin.
//!
//! ## Helpers
//! - [`money`]: points from money at a rate, multipliers and rounding, without overflow;
//! - [`time`]: local dates, weekdays, hours and day parts from event time, expiry dates;
//! - [`geo`]: distances between points;
//! - builders on [`Effect`], [`Description`] and [`RuleError`].

#[cfg(any(
    test,
    all(
        feature = "arena-alloc",
        target_arch = "wasm32",
        not(target_feature = "atomics")
    )
))]
mod alloc;
#[doc(hidden)]
pub mod bindings;
mod builders;
mod config;
mod context;
pub mod geo;
pub mod limits;
pub mod money;
mod shared;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;

pub use bindings::exports::rulebox::plugin::rule::{Description, MemberField, RuleError};
pub use bindings::rulebox::plugin::host::LogLevel;
pub use bindings::rulebox::plugin::types::*;
pub use config::{Configuration, Validate};
pub use context::{Context, Host};

/// The allocator of every plugin built with the SDK: see `alloc.rs` (feature
/// `arena-alloc`, on by default).
#[cfg(all(
    feature = "arena-alloc",
    target_arch = "wasm32",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: alloc::ArenaAlloc = alloc::ArenaAlloc::new();

/// Everything a rule usually needs, in one import: `use rulebox_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Answer, Configuration, Context, Description, Effect, Event, EventKind, EventType,
        MemberField, Money, Points, Query, QueryKind, QueryType, Rule, RuleError, Timestamp,
        Validate, export_rule,
    };
}

/// One marketing rule. Implement the handlers you need and register the type with
/// [`export_rule!`]. A rule is stateless: the platform may run every call in a fresh sandbox,
/// so anything a rule remembers must come back through the member or the configuration.
pub trait Rule {
    /// The rule's configuration, parsed and checked (`()` for none). The platform prepares
    /// it once per deployment and hands it to every handler.
    type Config: Configuration;

    /// What the rule is called, which events and queries it handles, and which member fields
    /// it reads. Must return the same value every time and call nothing on the host.
    fn describe() -> Description;

    /// Does the work that depends only on the configuration, so that calls do not repeat
    /// it. The default prepares [`Rule::Config`], which is all most rules need.
    ///
    /// The platform runs `init` once per deployed configuration and starts every call from
    /// the memory it leaves (see `init` in `wit/world.wit`). It may read only
    /// [`Context::config`]; anything else stops it. An `Err` here is not shown to the brand:
    /// calls then run without the snapshot and report the error themselves.
    fn init(ctx: &Context) -> Result<(), RuleError> {
        Self::Config::load(ctx).map(drop)
    }

    /// Decides the effects of `event` for its member. Called only for the event kinds listed
    /// in [`Rule::describe`].
    fn on_event(
        ctx: &Context,
        config: &Self::Config,
        event: &Event,
    ) -> Result<Vec<Effect>, RuleError> {
        let _ = (ctx, config, event);
        Err(RuleError::unsupported("this rule handles no events"))
    }

    /// Answers `query` without changing anything. Called only for the query kinds listed in
    /// [`Rule::describe`].
    fn on_query(ctx: &Context, config: &Self::Config, query: &Query) -> Result<Answer, RuleError> {
        let _ = (ctx, config, query);
        Err(RuleError::unsupported("this rule answers no queries"))
    }

    /// What the platform calls for an event: [`Rule::on_event`] with the prepared
    /// configuration (a configuration that does not parse or check is the call's error).
    fn run_event(ctx: &Context, event: &Event) -> Result<Vec<Effect>, RuleError> {
        Self::on_event(ctx, &*Self::Config::load(ctx)?, event)
    }

    /// What the platform calls for a query: [`Rule::on_query`] with the prepared
    /// configuration.
    fn run_query(ctx: &Context, query: &Query) -> Result<Answer, RuleError> {
        Self::on_query(ctx, &*Self::Config::load(ctx)?, query)
    }
}

/// Exports a [`Rule`] as the plugin's implementation of the `rulebox:plugin/rule` interface.
/// Use it once per plugin crate, at the crate root.
#[macro_export]
macro_rules! export_rule {
    ($rule:ty) => {
        // Native builds (unit tests) have no component to export into; export names with
        // `:` would not even link into a native cdylib.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct RuleboxGuest;

            impl $crate::bindings::Guest for RuleboxGuest {
                fn init() -> ::core::result::Result<(), ::std::string::String> {
                    <$rule as $crate::Rule>::init(&$crate::Context::wasm()).map_err(|e| e.to_line())
                }
            }

            impl $crate::bindings::exports::rulebox::plugin::rule::Guest for RuleboxGuest {
                fn describe() -> $crate::Description {
                    <$rule as $crate::Rule>::describe()
                }

                fn on_event(
                    event: $crate::Event,
                ) -> ::core::result::Result<::std::vec::Vec<$crate::Effect>, $crate::RuleError>
                {
                    <$rule as $crate::Rule>::run_event(&$crate::Context::wasm(), &event)
                }

                fn on_query(
                    query: $crate::Query,
                ) -> ::core::result::Result<$crate::Answer, $crate::RuleError> {
                    <$rule as $crate::Rule>::run_query(&$crate::Context::wasm(), &query)
                }
            }

    $crate::bindings::__export_rule_plugin!(RuleboxGuest with_types_in $crate::bindings);
        };
    };
}
