//! What processing an event or a query returns (and what is stored for a repeat).

use serde::{Deserialize, Serialize};

use crate::registry::RegistryError;
use rulebox_sandbox::PluginFailure;
use rulebox_store::StorageError;
use rulebox_store::model::LedgerEntry;
use rulebox_world::{Answer, Effect, Event};

/// One effect and who decided it, for whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AppliedEffect {
    pub member_id: String,
    pub plugin: String,
    pub version: String,
    pub effect: Effect,
}

/// A ledger entry with its member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MemberLedgerEntry {
    pub member_id: String,
    #[serde(flatten)]
    pub entry: LedgerEntry,
}

/// A member's state after the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MemberState {
    pub id: String,
    pub tier: String,
    pub points: i64,
}

/// Cost of one plugin call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CallStat {
    pub plugin: String,
    pub version: String,
    pub member_id: String,
    pub fuel_used: u64,
    pub elapsed_us: u64,
}

/// The result of an event: applied (or, for a dry run, what would be applied).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EventOutcome {
    pub event_id: String,
    pub brand: String,
    /// True when this event id had been applied before: this is the stored outcome and
    /// nothing changed now.
    #[serde(default)]
    pub duplicate: bool,
    /// True for a dry run: nothing was committed.
    #[serde(default)]
    pub dry_run: bool,
    /// Every effect applied, in order.
    pub effects: Vec<AppliedEffect>,
    /// Every ledger entry written, in order.
    pub ledger: Vec<MemberLedgerEntry>,
    /// Plugins that failed and were skipped (their policy is `skip`).
    pub failures: Vec<PluginFailure>,
    /// What the host itself did (reversals, expiries, referral levels).
    pub notes: Vec<String>,
    /// The members touched, after the event.
    pub members: Vec<MemberState>,
    /// Fuel and time per plugin call.
    pub calls: Vec<CallStat>,
}

impl EventOutcome {
    /// The outcome of `event` before anything is evaluated.
    pub(crate) fn new(event: &Event, dry_run: bool) -> Self {
        EventOutcome {
            event_id: event.id.clone(),
            brand: event.brand.clone(),
            duplicate: false,
            dry_run,
            effects: Vec::new(),
            ledger: Vec::new(),
            failures: Vec::new(),
            notes: Vec::new(),
            members: Vec::new(),
            calls: Vec::new(),
        }
    }
}

/// One plugin's answer to a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PluginAnswer {
    pub plugin: String,
    pub version: String,
    pub answer: Answer,
}

/// The answers of every plugin that handles the query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QueryOutcome {
    pub answers: Vec<PluginAnswer>,
    pub failures: Vec<PluginFailure>,
}

/// Why an event or query was not processed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    #[error("unknown brand {0}; create the brand first")]
    UnknownBrand(String),
    #[error(
        "unknown member {member} of brand {brand}; send a sign-up event or create the member first"
    )]
    UnknownMember { brand: String, member: String },
    #[error(
        "event {event_id} was not applied because {failure}. It is in the dead-letter list; fix the plugin or its configuration and replay it"
    )]
    Aborted {
        event_id: String,
        failure: Box<PluginFailure>,
    },
    #[error("no dead letter {event_id} for brand {brand}")]
    UnknownDeadLetter { brand: String, event_id: String },
    /// A plugin version the operation names is not installed (or cannot be loaded).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}
