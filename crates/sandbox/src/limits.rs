//! The bounds every plugin call runs within.

use serde::{Deserialize, Serialize};

/// Per-plugin resource bounds, set in the plugin's manifest. Every field has a safe default;
/// a brand may lower or raise them within the host's ceilings ([`Limits::ceiling`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Instruction budget per call (wasmtime fuel: roughly one unit per wasm instruction).
    /// Deterministic: the same call uses the same fuel on any machine, so `rulebox test`
    /// reproduces it.
    pub fuel: u64,
    /// Wall-clock deadline per call in milliseconds (epoch interruption), for what fuel
    /// cannot see: slow host calls, or a machine under load.
    pub deadline_ms: u64,
    /// Linear-memory cap in bytes.
    pub memory_bytes: u64,
    /// Cap on table elements (function tables).
    pub table_elements: u64,
    /// Cap on the size of what a call returns (effects or answer), in bytes of string data
    /// plus a fixed cost per item.
    pub output_bytes: u64,
    /// Cap on the number of effects one call returns.
    pub max_effects: u32,
    /// Cap on host function calls per plugin call.
    pub host_calls: u32,
    /// Cap on log lines per call; later lines are dropped and counted.
    pub log_lines: u32,
    /// Cap on captured stdout and stderr, in bytes each.
    pub stdio_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 20_000_000,
            deadline_ms: 100,
            memory_bytes: 32 << 20,
            table_elements: 20_000,
            output_bytes: 256 << 10,
            max_effects: 256,
            host_calls: 1_000,
            log_lines: 50,
            stdio_bytes: 16 << 10,
        }
    }
}

impl Limits {
    /// The most any plugin may be given, whatever its manifest says.
    pub fn ceiling() -> Self {
        Limits {
            fuel: 2_000_000_000,
            deadline_ms: 5_000,
            memory_bytes: MAX_MEMORY_BYTES,
            table_elements: 1_000_000,
            output_bytes: 16 << 20,
            max_effects: 10_000,
            host_calls: 100_000,
            log_lines: 10_000,
            stdio_bytes: 1 << 20,
        }
    }

    /// Checks the limits against [`Limits::ceiling`] and rejects zero budgets.
    pub fn validate(&self) -> Result<(), String> {
        let max = Limits::ceiling();
        let checks: [(&str, u64, u64); 9] = [
            ("fuel", self.fuel, max.fuel),
            ("deadline_ms", self.deadline_ms, max.deadline_ms),
            ("memory_bytes", self.memory_bytes, max.memory_bytes),
            ("table_elements", self.table_elements, max.table_elements),
            ("output_bytes", self.output_bytes, max.output_bytes),
            (
                "max_effects",
                self.max_effects.into(),
                max.max_effects.into(),
            ),
            ("host_calls", self.host_calls.into(), max.host_calls.into()),
            ("log_lines", self.log_lines.into(), max.log_lines.into()),
            (
                "stdio_bytes",
                self.stdio_bytes.into(),
                max.stdio_bytes.into(),
            ),
        ];
        for (name, value, ceiling) in checks {
            if value == 0 || value > ceiling {
                return Err(format!(
                    "limit {name} = {value} must be between 1 and {ceiling}"
                ));
            }
        }
        Ok(())
    }
}

/// The largest linear memory any plugin may have; the instance pool is sized for it.
pub const MAX_MEMORY_BYTES: u64 = 256 << 20;
