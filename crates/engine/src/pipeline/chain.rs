//! The plugin chain for one member: each plugin the brand runs for the event's kind, in
//! order, sees the member as the ones before it left them; all of a plugin's effects apply,
//! or none, and a failing plugin is skipped or aborts the event as its manifest says.

use std::sync::Arc;

use rulebox_sandbox::{CallEnv, CallReport, FailureCause, PluginFailure};
use rulebox_store::model::{Brand, Member};
use rulebox_world::{BrandData, Effect, Event};

use super::apply::{self, Cause, Changes};
use super::view::member_view;
use super::{AppliedEffect, CallStat, EventOutcome};
use crate::Rulebox;
use crate::registry::{ActivePlugin, BrandPlugins, FailurePolicy};

/// One target's evaluation in progress: the member and its changes as the chain leaves them.
pub(super) struct Target<'a> {
    pub event: &'a Event,
    pub brand: &'a Brand,
    pub member: Member,
    pub changes: Changes,
    pub catalog: &'a Arc<dyn BrandData>,
    /// Local day number of the event, for daily buckets.
    pub day: i64,
}

impl Target<'_> {
    /// What this target's ledger entries are attributed to.
    fn cause<'p>(&'p self, plugin: Option<(&'p str, &'p str)>) -> Cause<'p> {
        cause(self.event, self.brand, self.day, plugin)
    }
}

/// What the ledger entries of `event` for one member are attributed to: the host's own
/// (`plugin` none) or a plugin's.
pub(super) fn cause<'p>(
    event: &'p Event,
    brand: &Brand,
    day: i64,
    plugin: Option<(&'p str, &'p str)>,
) -> Cause<'p> {
    Cause {
        event_id: &event.id,
        at: event.occurred_at,
        plugin,
        order_id: super::order_id(event),
        day,
        window_days: brand.window_days,
    }
}

impl Rulebox {
    /// Runs `chain`'s plugins for the target's event kind on its member. A failure whose
    /// policy is `skip` is recorded in `outcome`; one whose policy is `abort` is returned.
    pub(super) fn run_chain(
        &self,
        chain: &BrandPlugins,
        target: &mut Target<'_>,
        outcome: &mut EventOutcome,
    ) -> Result<(), PluginFailure> {
        let event = target.event;
        for active in chain.for_event(event.kind.event_type()) {
            let description = &active.plugin.description;
            let call_seed = seed(
                &target.brand.id,
                &event.id,
                &event.member_id,
                &description.name,
            );
            let env = call_env(
                active,
                &target.member,
                target.brand,
                event.occurred_at,
                call_seed,
                target.catalog,
            );
            let result = match &self.runner {
                Some(runner) => runner.on_event(active, env, event),
                None => self.sandbox.on_event(&active.plugin, env, event),
            }
            .and_then(|report| apply_all(target, active, report));
            self.stats.record(
                &target.brand.id,
                &description.name,
                &description.version,
                &result,
            );
            match result {
                Ok(report) => record_call(outcome, &target.member.id, active, report),
                Err(failure) if active.manifest.on_failure == FailurePolicy::Skip => {
                    tracing::warn!(%failure, "plugin failed; skipped as configured");
                    outcome.failures.push(failure);
                }
                Err(failure) => return Err(failure),
            }
        }
        Ok(())
    }
}

/// Applies all of a plugin's effects to the target, or none: they are tried on a copy.
fn apply_all(
    target: &mut Target<'_>,
    active: &ActivePlugin,
    report: CallReport<Vec<Effect>>,
) -> Result<CallReport<Vec<Effect>>, PluginFailure> {
    let description = &active.plugin.description;
    let plugin = Some((description.name.as_str(), description.version.as_str()));
    let (mut member, mut changes) = (target.member.clone(), target.changes.clone());
    let cause = target.cause(plugin);
    let applied = report
        .output
        .iter()
        .try_for_each(|effect| apply::apply_effect(&mut member, &mut changes, &cause, effect));
    match applied {
        Ok(()) => {
            (target.member, target.changes) = (member, changes);
            Ok(report)
        }
        Err(message) => Err(PluginFailure {
            plugin: description.name.clone(),
            version: description.version.clone(),
            subject: format!("event {}", target.event.id),
            cause: FailureCause::InvalidEffect { message },
            stderr: String::new(),
        }),
    }
}

/// Adds a successful call's effects and cost to the outcome.
fn record_call(
    outcome: &mut EventOutcome,
    member_id: &str,
    active: &ActivePlugin,
    report: CallReport<Vec<Effect>>,
) {
    let description = &active.plugin.description;
    outcome.calls.push(CallStat {
        plugin: description.name.clone(),
        version: description.version.clone(),
        member_id: member_id.to_owned(),
        fuel_used: report.fuel_used,
        elapsed_us: report.elapsed_us,
    });
    log_plugin_output(&description.name, &outcome.event_id, &report);
    outcome
        .effects
        .extend(report.output.into_iter().map(|effect| AppliedEffect {
            member_id: member_id.to_owned(),
            plugin: description.name.clone(),
            version: description.version.clone(),
            effect,
        }));
}

/// Sends what a plugin logged or printed (already capped by the sandbox) to the host's log.
pub(crate) fn log_plugin_output<T>(
    plugin: &str,
    event: &str,
    report: &rulebox_sandbox::CallReport<T>,
) {
    for line in &report.logs {
        let fields: Vec<String> = line
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        match line.level.as_str() {
            "error" => tracing::error!(plugin, event, fields = ?fields, "{}", line.message),
            "warn" => tracing::warn!(plugin, event, fields = ?fields, "{}", line.message),
            "debug" => tracing::debug!(plugin, event, fields = ?fields, "{}", line.message),
            _ => tracing::info!(plugin, event, fields = ?fields, "{}", line.message),
        }
    }
    for (stream, text) in [("stdout", &report.stdout), ("stderr", &report.stderr)] {
        if !text.is_empty() {
            tracing::info!(plugin, event, stream, "{text}");
        }
    }
}

/// What one plugin call may read: the member as the plugin may see them, the call's time and
/// seed, the plugin's configuration and the brand's data.
pub(crate) fn call_env(
    active: &ActivePlugin,
    member: &Member,
    brand: &Brand,
    at: i64,
    seed: u64,
    data: &Arc<dyn BrandData>,
) -> CallEnv {
    CallEnv {
        member: member_view(member, brand, at, &active.plugin.description.reads),
        at,
        config: active.config.clone(),
        seed,
        data: data.clone(),
    }
}

/// The deterministic seed of one plugin call.
pub(crate) fn seed(brand: &str, event_id: &str, member_id: &str, plugin: &str) -> u64 {
    let hash = blake3::hash(format!("{brand}\0{event_id}\0{member_id}\0{plugin}").as_bytes());
    u64::from_le_bytes(
        hash.as_bytes()[..8]
            .try_into()
            .expect("blake3 gives 32 bytes"),
    )
}
