//! What a plugin call can fail with: stored with dead letters and outcomes, served by the
//! API, so these live with the contract rather than in the sandbox that raises them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::RuleError;

/// Why a plugin call did not produce a usable result.
#[derive(
    Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error, schemars::JsonSchema,
)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum FailureCause {
    #[error(
        "ran out of fuel: used its whole budget of {budget} instructions; make the rule cheaper or raise limits.fuel"
    )]
    FuelExhausted { budget: u64 },
    #[error(
        "missed its deadline of {deadline_ms} ms; make the rule faster or raise limits.deadline_ms"
    )]
    Deadline { deadline_ms: u64 },
    #[error(
        "tried to grow its memory past {limit_bytes} bytes; use less memory or raise limits.memory_bytes"
    )]
    MemoryLimit { limit_bytes: u64 },
    #[error("tried to grow a table past {limit_elements} elements; raise limits.table_elements")]
    TableLimit { limit_elements: u64 },
    #[error("overflowed its wasm stack (unbounded recursion?)")]
    StackOverflow,
    #[error("made more than {limit} host calls in one call; batch them or raise limits.host_calls")]
    TooManyHostCalls { limit: u32 },
    /// One host call asked for more items than the host reads in one call.
    #[error(
        "asked host function {function} for {actual} ids in one call, over the limit of {limit}; ask for at most {limit} at a time (an empty list reads them all)"
    )]
    HostCallTooLarge {
        function: String,
        actual: u64,
        limit: u64,
    },
    /// More bytes than the host copies in one transfer crossed from the plugin to the host:
    /// the arguments of one host call, or the result of the call.
    #[error(
        "passed more than {limit_bytes} bytes to the host in one transfer (the arguments of a host call, or the effects or answer it returned); pass less per host call and return fewer or smaller effects (raising limits.output_bytes raises this bound too)"
    )]
    TransferTooLarge { limit_bytes: u64 },
    #[error(
        "returned {actual} {unit}, over the limit of {limit}; return less or raise limits.{setting}"
    )]
    OutputTooLarge {
        actual: u64,
        limit: u64,
        unit: String,
        setting: String,
    },
    #[error("trapped: {message}")]
    Trap { message: String },
    #[error("returned a rule error: {0}")]
    Rule(RuleErrorView),
    #[error("returned an invalid effect: {message}")]
    InvalidEffect { message: String },
    #[error("could not be instantiated: {message}")]
    Instantiation { message: String },
}

impl FailureCause {
    /// The cause's stable kebab-case name, the same as its `cause` tag in JSON
    /// (`fuel-exhausted`, `deadline`, `memory-limit`, …): a label for counting failures
    /// without serialising them.
    pub fn code(&self) -> &'static str {
        match self {
            FailureCause::FuelExhausted { .. } => "fuel-exhausted",
            FailureCause::Deadline { .. } => "deadline",
            FailureCause::MemoryLimit { .. } => "memory-limit",
            FailureCause::TableLimit { .. } => "table-limit",
            FailureCause::StackOverflow => "stack-overflow",
            FailureCause::TooManyHostCalls { .. } => "too-many-host-calls",
            FailureCause::HostCallTooLarge { .. } => "host-call-too-large",
            FailureCause::TransferTooLarge { .. } => "transfer-too-large",
            FailureCause::OutputTooLarge { .. } => "output-too-large",
            FailureCause::Trap { .. } => "trap",
            FailureCause::Rule(_) => "rule",
            FailureCause::InvalidEffect { .. } => "invalid-effect",
            FailureCause::Instantiation { .. } => "instantiation",
        }
    }
}

/// A [`RuleError`] in a stable, serialisable shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuleErrorView {
    /// `invalid-config`, `invalid-input`, `unsupported` or `internal`.
    pub code: String,
    pub message: String,
}

impl From<&RuleError> for RuleErrorView {
    fn from(error: &RuleError) -> Self {
        let (code, message) = match error {
            RuleError::InvalidConfig(m) => ("invalid-config", m),
            RuleError::InvalidInput(m) => ("invalid-input", m),
            RuleError::Unsupported(m) => ("unsupported", m),
            RuleError::Internal(m) => ("internal", m),
        };
        RuleErrorView {
            code: code.to_owned(),
            message: message.clone(),
        }
    }
}

impl fmt::Display for RuleErrorView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// A plugin call that failed, naming the plugin, its version, the event (or query) and why.
#[derive(
    Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error, schemars::JsonSchema,
)]
#[error("plugin {plugin}@{version} failed on {subject}: {cause}")]
pub struct PluginFailure {
    pub plugin: String,
    pub version: String,
    /// `event <id>` or `query <kind>`.
    pub subject: String,
    pub cause: FailureCause,
    /// The last of what the plugin wrote to stderr (a panic message, usually), if anything.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `code()` must name each cause exactly as serde tags it, or counts by code and the
    /// JSON of failures would disagree.
    #[test]
    fn code_equals_the_serde_tag_of_every_cause() {
        let causes = [
            FailureCause::FuelExhausted { budget: 1 },
            FailureCause::Deadline { deadline_ms: 1 },
            FailureCause::MemoryLimit { limit_bytes: 1 },
            FailureCause::TableLimit { limit_elements: 1 },
            FailureCause::StackOverflow,
            FailureCause::TooManyHostCalls { limit: 1 },
            FailureCause::HostCallTooLarge {
                function: "products".into(),
                actual: 2,
                limit: 1,
            },
            FailureCause::TransferTooLarge { limit_bytes: 1 },
            FailureCause::OutputTooLarge {
                actual: 2,
                limit: 1,
                unit: "effects".into(),
                setting: "max_effects".into(),
            },
            FailureCause::Trap {
                message: "boom".into(),
            },
            FailureCause::Rule(RuleErrorView {
                code: "internal".into(),
                message: "no".into(),
            }),
            FailureCause::InvalidEffect {
                message: "negative".into(),
            },
            FailureCause::Instantiation {
                message: "no".into(),
            },
        ];
        for cause in causes {
            let json = serde_json::to_value(&cause).unwrap();
            assert_eq!(json["cause"], cause.code(), "{cause:?}");
        }
    }
}
