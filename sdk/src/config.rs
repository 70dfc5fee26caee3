//! A rule's configuration: the JSON a brand deploys with the plugin, parsed and checked once
//! per deployment (in `init`, whose memory every call starts from) and handed to every call.

use serde::de::{DeserializeOwned, IgnoredAny};

use crate::{Context, RuleError};

/// What a rule reads from its deployed configuration, parsed and checked.
///
/// Most rules read their configuration as it is deployed and only check it: they implement
/// [`Validate`] and get this trait from it. A rule that works from something built out of
/// the JSON (lookup tables, a sorted ladder) implements this trait for that, naming the
/// deployed shape as [`Configuration::Json`]:
///
/// ```
/// # use rulebox_sdk::prelude::*;
/// #[derive(serde::Deserialize)]
/// struct Deployed {
///     thresholds: Vec<Points>,
/// }
///
/// /// The thresholds, sorted once per deployment.
/// struct Ladder(Vec<Points>);
///
/// impl Configuration for Ladder {
///     type Json = Deployed;
///
///     fn from_json(deployed: Deployed) -> Result<Self, RuleError> {
///         let mut thresholds = deployed.thresholds;
///         if thresholds.is_empty() {
///             return Err(RuleError::invalid_config("thresholds is empty; give at least one"));
///         }
///         thresholds.sort_unstable();
///         Ok(Ladder(thresholds))
///     }
/// }
/// ```
///
/// A rule with nothing to configure uses `()`, which accepts any configuration.
pub trait Configuration: Sized + 'static {
    /// The shape of the deployed JSON document (an empty configuration reads as `{}`).
    type Json: DeserializeOwned;

    /// Checks the parsed document and builds the configuration from it. An error names the
    /// first offending key and what to set instead: the brand sees it in the outcome of
    /// every call (and at deployment).
    fn from_json(json: Self::Json) -> Result<Self, RuleError>;

    /// The configuration of the call's plugin: parsed and checked on first use per deployed
    /// configuration, then shared (see [`Context::prepared`]).
    fn load(ctx: &Context) -> Result<std::rc::Rc<Self>, RuleError> {
        ctx.prepared(|ctx| Self::from_json(ctx.config::<Self::Json>()?))
    }
}

/// A configuration deployed as it is read, once [`Validate::validate`] accepts it:
///
/// ```
/// # use rulebox_sdk::prelude::*;
/// #[derive(serde::Deserialize)]
/// struct Bonus {
///     points: Points,
/// }
///
/// impl Validate for Bonus {
///     fn validate(&self) -> Result<(), RuleError> {
///         if self.points < 0 {
///             return Err(RuleError::invalid_config("points must not be negative"));
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Validate: DeserializeOwned + 'static {
    /// Checks values that parse but make no sense, naming the first offending key.
    fn validate(&self) -> Result<(), RuleError>;
}

impl<T: Validate> Configuration for T {
    type Json = T;

    fn from_json(config: T) -> Result<T, RuleError> {
        config.validate()?;
        Ok(config)
    }
}

/// No configuration: anything deployed is accepted and ignored.
impl Configuration for () {
    type Json = IgnoredAny;

    fn from_json(_: IgnoredAny) -> Result<(), RuleError> {
        Ok(())
    }
}
