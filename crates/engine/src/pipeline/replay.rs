//! Replaying events against a candidate plugin version before activating it: what would the
//! new version decide, and how does that differ from what was stored and from what the
//! active version decides now?
//!
//! Each event is re-evaluated twice against the **current** state of its member — once with
//! the brand's active chain, once with the chain as it would be with the candidate active
//! ([`crate::registry::Registry::candidate`]) — committing nothing and dead-lettering
//! nothing. Comparing the candidate with both the stored outcome and the active version
//! separates what the new version changes from what merely changed in the member's state
//! since the event (points, tier, aggregates that now include the event itself).
//!
//! Because the state is the current one, an event the current state refuses fails even if
//! it was applied once: a purchase using a coupon the member has since spent, say.

use serde::{Deserialize, Serialize};

use super::{EventOutcome, Mode, PipelineError, Rulebox};
use crate::registry::BrandPlugins;
use rulebox_store::Db;
use rulebox_world::validate::check_event;
use rulebox_world::{Effect, Event, EventType};

/// How the candidate's decision on one event compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReplayStatus {
    /// The candidate does not handle this kind of event.
    NotHandled,
    /// The candidate failed on the event, or the event cannot be evaluated (see `error`).
    Failed,
    /// The candidate decides what was stored (or, for an event never ingested, what the
    /// active version decides now).
    Same,
    /// The candidate decides differently from the active version: the new version changes
    /// the outcome.
    Changed,
    /// The candidate decides as the active version does now, but not as was stored: the
    /// member's state has moved on since the event, not the version.
    Drift,
}

/// One replayed event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReplayItem {
    pub event_id: String,
    pub status: ReplayStatus,
    /// The plugin's effects in the event's stored outcome; `null` if the event was never
    /// ingested.
    pub stored: Option<Vec<Effect>>,
    /// The plugin's effects under the active chain now; `null` if the plugin has no active
    /// version, its active version does not handle the event, or it failed (`active_error`).
    pub active: Option<Vec<Effect>>,
    /// The candidate's effects now; `null` if it does not handle the event or failed.
    pub candidate: Option<Vec<Effect>>,
    /// Why the candidate could not decide (status `failed`).
    pub error: Option<String>,
    /// Why the active chain could not decide now, if it could not.
    pub active_error: Option<String>,
}

/// How many events got each status.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub struct ReplaySummary {
    pub same: usize,
    pub changed: usize,
    pub drift: usize,
    pub not_handled: usize,
    pub failed: usize,
}

impl ReplaySummary {
    fn count(&mut self, status: ReplayStatus) {
        *match status {
            ReplayStatus::Same => &mut self.same,
            ReplayStatus::Changed => &mut self.changed,
            ReplayStatus::Drift => &mut self.drift,
            ReplayStatus::NotHandled => &mut self.not_handled,
            ReplayStatus::Failed => &mut self.failed,
        } += 1;
    }
}

/// What replaying events against a candidate version found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReplayReport {
    pub brand: String,
    pub plugin: String,
    /// The candidate version.
    pub version: String,
    /// The version active now, if any.
    pub active_version: Option<String>,
    pub summary: ReplaySummary,
    /// One per event, in the order given.
    pub items: Vec<ReplayItem>,
}

/// A plugin's decision on an event: its effects, or why there are none.
type Decision = Result<Vec<Effect>, String>;

impl Rulebox {
    /// Re-evaluates `events` (in order) with `version` of plugin `name` in place of the
    /// active one, and reports for each how that version's effects compare with the stored
    /// outcome and with the active version's effects now (see [`ReplayStatus`]). Commits
    /// nothing and activates nothing.
    ///
    /// Fails as a whole only if the brand or the version does not exist, or storage fails;
    /// a problem with one event (another brand, an invalid or unknown member…) is that
    /// item's `error`.
    pub fn replay_candidate(
        &self,
        brand: &str,
        name: &str,
        version: &str,
        events: Vec<Event>,
    ) -> Result<ReplayReport, PipelineError> {
        self.brand(brand)?;
        let candidate = self.registry.candidate(brand, name, version)?;
        let active = self.registry.snapshot(brand);
        let active_plugin = active.get(name);
        let active_version = active_plugin.map(|p| p.manifest.version.clone());
        let chains = Chains {
            name,
            candidate_events: &candidate
                .get(name)
                .expect("a candidate chain holds its candidate")
                .manifest
                .events,
            candidate: &candidate,
            active_events: active_plugin.map(|p| p.manifest.events.as_slice()),
            active: &active,
            // The same version in the same chain decides the same (calls are deterministic):
            // evaluate once.
            same: active_version.as_deref() == Some(version),
        };
        let mut report = ReplayReport {
            brand: brand.to_owned(),
            plugin: name.to_owned(),
            version: version.to_owned(),
            active_version,
            summary: ReplaySummary::default(),
            items: Vec::with_capacity(events.len()),
        };
        for event in events {
            let item = self.replay_one(brand, &chains, event)?;
            report.summary.count(item.status);
            report.items.push(item);
        }
        Ok(report)
    }

    fn replay_one(
        &self,
        brand: &str,
        chains: &Chains<'_>,
        event: Event,
    ) -> Result<ReplayItem, PipelineError> {
        let mut item = ReplayItem {
            event_id: event.id.clone(),
            status: ReplayStatus::Failed,
            stored: None,
            active: None,
            candidate: None,
            error: None,
            active_error: None,
        };
        if event.brand != brand {
            item.error = Some(format!(
                "the event's brand is {:?}, not {brand:?}; replay each brand's events against its own plugins",
                event.brand
            ));
            return Ok(item);
        }
        if let Err(message) = check_event(&event) {
            item.error = Some(format!("invalid event: {message}"));
            return Ok(item);
        }
        item.stored = self
            .db
            .get::<EventOutcome>(&Db::event_key(brand, &event.id))?
            .map(|outcome| effects_of(&outcome, chains.name));

        let kind = event.kind.event_type();
        let active = match chains.active_events {
            Some(events) if events.contains(&kind) => {
                Some(self.decide(chains.active, &event, chains.name)?)
            }
            _ => None,
        };
        match &active {
            Some(Ok(effects)) => item.active = Some(effects.clone()),
            Some(Err(error)) => item.active_error = Some(error.clone()),
            None => {}
        }
        if !chains.candidate_events.contains(&kind) {
            item.status = ReplayStatus::NotHandled;
            return Ok(item);
        }
        let decision = match active {
            Some(decision) if chains.same => decision,
            _ => self.decide(chains.candidate, &event, chains.name)?,
        };
        match decision {
            Ok(effects) => {
                item.status = status(item.stored.as_deref(), item.active.as_deref(), &effects);
                item.candidate = Some(effects);
            }
            Err(error) => item.error = Some(error),
        }
        Ok(item)
    }

    /// What plugin `name` decides on `event` under `chain` now. Only a storage failure is
    /// an error of the replay; anything else is the decision's.
    fn decide(
        &self,
        chain: &BrandPlugins,
        event: &Event,
        name: &str,
    ) -> Result<Decision, PipelineError> {
        match self.process(event.clone(), Mode::Reevaluate(chain), None) {
            Ok(outcome) => Ok(match outcome.failures.iter().find(|f| f.plugin == name) {
                Some(failure) => Err(failure.to_string()),
                None => Ok(effects_of(&outcome, name)),
            }),
            // The pipeline's message for an abort speaks of the dead-letter list, which a
            // re-evaluation does not use: give the plugin's failure itself.
            Err(PipelineError::Aborted { failure, .. }) => Ok(Err(failure.to_string())),
            Err(error @ (PipelineError::Storage(_) | PipelineError::Registry(_))) => Err(error),
            Err(error) => Ok(Err(error.to_string())),
        }
    }
}

/// The chains a replay compares.
struct Chains<'a> {
    name: &'a str,
    candidate: &'a BrandPlugins,
    candidate_events: &'a [EventType],
    active: &'a BrandPlugins,
    /// What the active version handles; `None` if the plugin is not active.
    active_events: Option<&'a [EventType]>,
    /// The candidate is the active version.
    same: bool,
}

/// The effects plugin `name` decided in `outcome`, in order (for every member concerned).
fn effects_of(outcome: &EventOutcome, name: &str) -> Vec<Effect> {
    outcome
        .effects
        .iter()
        .filter(|applied| applied.plugin == name)
        .map(|applied| applied.effect.clone())
        .collect()
}

/// How the candidate's effects compare with the stored ones and the active version's now.
fn status(
    stored: Option<&[Effect]>,
    active: Option<&[Effect]>,
    candidate: &[Effect],
) -> ReplayStatus {
    match stored {
        Some(stored) if stored == candidate => ReplayStatus::Same,
        None if active == Some(candidate) => ReplayStatus::Same,
        _ if active != Some(candidate) => ReplayStatus::Changed,
        _ => ReplayStatus::Drift,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rulebox_world::Award;

    fn award(amount: i64) -> Vec<Effect> {
        vec![Effect::AwardPoints(Award {
            amount,
            reason: "r".into(),
            expires_at: None,
        })]
    }

    #[test]
    fn the_status_separates_a_new_decision_from_a_moved_state() {
        let (one, two) = (award(1), award(2));
        let (one, two) = (one.as_slice(), two.as_slice());
        // Decides as stored, whatever the active version does now.
        assert_eq!(status(Some(one), Some(two), one), ReplayStatus::Same);
        // Never ingested: compared with the active version.
        assert_eq!(status(None, Some(one), one), ReplayStatus::Same);
        assert_eq!(status(None, Some(one), two), ReplayStatus::Changed);
        // Never ingested, no active version: anything it decides is new.
        assert_eq!(status(None, None, one), ReplayStatus::Changed);
        // Differs from stored and from active: the version changes the outcome.
        assert_eq!(status(Some(one), Some(one), two), ReplayStatus::Changed);
        assert_eq!(status(Some(one), None, two), ReplayStatus::Changed);
        // Differs from stored but decides as the active version now: drift.
        assert_eq!(status(Some(one), Some(two), two), ReplayStatus::Drift);
    }
}
