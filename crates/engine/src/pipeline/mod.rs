//! The event pipeline: events in, effects applied exactly once.
//!
//! For one event the pipeline
//! 1. checks it, and returns the stored outcome if its id was applied before;
//! 2. finds the members it concerns (one, or the referral chain up to three levels) and
//!    locks them;
//! 3. does the host's own bookkeeping (aggregates, refund reversal, expiry);
//! 4. runs the brand's chain for the event kind, in order, each plugin seeing the member as
//!    the plugins before it left them;
//! 5. commits the members, ledger entries, order records and the outcome under the event
//!    id in one atomic batch, flushes (group commit), and only then answers.
//!
//! A failing plugin whose policy is `abort` stops the event: nothing is committed and the
//! event goes to the dead-letter list; with `skip` its effects are left out and the failure
//! is recorded in the outcome.
//!
//! A dry run, and the re-evaluation of events against a candidate plugin version before it
//! is activated ([`Rulebox::replay_candidate`]), go down the same path and commit nothing.
//! Every plugin call is counted per version ([`Rulebox::plugin_stats`]).

pub(crate) mod apply;
#[cfg(test)]
mod apply_props;
pub(crate) mod chain;
mod group;
mod locks;
pub(crate) mod memo;
mod outcome;
mod replay;
mod stats;
mod targets;
mod view;

use rulebox_sandbox::PluginFailure;
use rulebox_sdk::time::local_day_number;
use rulebox_store::model::{Brand, DeadLetter, Member};
use rulebox_store::{Batch, Committed, Db, StorageError};
use rulebox_world::validate::check_event;
use rulebox_world::{Event, EventKind};

use crate::Rulebox;
use crate::registry::BrandPlugins;
use apply::Changes;
use chain::Target;
use group::{Access, Group};
pub(crate) use locks::{MemberLocks, StripeGuard};
pub use outcome::{
    AppliedEffect, CallStat, EventOutcome, MemberLedgerEntry, MemberState, PipelineError,
    PluginAnswer, QueryOutcome,
};
pub use replay::{ReplayItem, ReplayReport, ReplayStatus, ReplaySummary};
pub use stats::{Percentiles, PluginStats, PluginStatsView, VersionStatsView, WINDOW};
pub use view::member_view;

/// Referral rewards never go deeper than this many levels (a legal limit in China).
pub const MAX_REFERRAL_LEVELS: u8 = 3;

/// How [`Rulebox::process`] treats an event. One code path serves all three, so a dry run
/// or a replay evaluates exactly what ingest would.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// Apply it exactly once and commit (a repeated id answers the stored outcome). With
    /// `flush`, return only once the commit is durable; without, the caller flushes before
    /// acknowledging (a batch shares one flush).
    Ingest { flush: bool },
    /// Evaluate it as ingest would, against the current state; commit nothing.
    DryRun,
    /// Evaluate it with `chain` against the current state as if it were new: no stored
    /// outcome is returned, and an order id already recorded or a repeated sign-up is not
    /// refused (the event may well be one that was ingested: that is what replaying a
    /// version against past events means). Commit nothing, dead-letter nothing.
    Reevaluate(&'a BrandPlugins),
}

impl Mode<'_> {
    fn commits(self) -> bool {
        matches!(self, Mode::Ingest { .. })
    }

    fn flushes(self) -> bool {
        matches!(self, Mode::Ingest { flush: true })
    }

    fn reevaluates(self) -> bool {
        matches!(self, Mode::Reevaluate(_))
    }
}

impl Rulebox {
    /// Applies an event exactly once and returns its outcome (the stored one on a repeat).
    pub fn ingest(&self, event: Event) -> Result<EventOutcome, PipelineError> {
        self.process(event, Mode::Ingest { flush: true }, None)
    }

    /// Applies events in order, each exactly once and atomically as [`Rulebox::ingest`]
    /// does, but commits them in groups (one storage transaction for up to
    /// [`group::GROUP_EVENTS`] events, see [`group`]) and makes them durable with one flush
    /// at the end instead of one each. Every result is returned only after that flush; if
    /// a commit or the flush fails, so does every event of the batch it covered that was
    /// not refused (they may or may not be applied: retry them, ids make that safe).
    pub fn ingest_all(&self, events: Vec<Event>) -> Vec<Result<EventOutcome, PipelineError>> {
        let mut group = Group::new(&self.db, &self.locks);
        let mut results: Vec<_> = events
            .into_iter()
            .enumerate()
            .map(|(position, event)| {
                group.next_event(position);
                self.process(event, Mode::Ingest { flush: false }, Some(&mut group))
            })
            .collect();
        group.finish(&mut results);
        if let Err(error) = self.db.flush() {
            for result in &mut results {
                if result.is_ok() {
                    *result = Err(PipelineError::Storage(error.clone()));
                }
            }
        }
        results
    }

    /// Evaluates an event as `ingest` would, against the current state, committing nothing.
    pub fn dry_run(&self, event: Event) -> Result<EventOutcome, PipelineError> {
        self.process(event, Mode::DryRun, None)
    }

    /// Events a plugin aborted, waiting for replay.
    pub fn dead_letters(&self, brand: &str) -> Result<Vec<DeadLetter>, PipelineError> {
        Ok(self.db.dead_letters(brand)?)
    }

    /// Processes a dead-lettered event again (after its plugin or configuration was fixed).
    pub fn replay(&self, brand: &str, event_id: &str) -> Result<EventOutcome, PipelineError> {
        let letter: DeadLetter = self
            .db
            .get(&Db::dead_letter_key(brand, event_id))?
            .ok_or_else(|| PipelineError::UnknownDeadLetter {
                brand: brand.into(),
                event_id: event_id.into(),
            })?;
        self.ingest(letter.event)
    }

    /// Runs one event. With a `group` (ingest only), its locks are the group's and its
    /// writes are staged there instead of committed.
    fn process(
        &self,
        event: Event,
        mode: Mode<'_>,
        mut group: Option<&mut Group<'_>>,
    ) -> Result<EventOutcome, PipelineError> {
        check_event(&event).map_err(PipelineError::InvalidEvent)?;
        let brand = self.brand(&event.brand)?;
        let event_key = Db::event_key(&brand.id, &event.id);
        // A repeat is answered from the check under the locks below. Only a referral, whose
        // targets are read from the invitation chain first, checks before that as well: a
        // read is not free, since sled's reads wait while anything commits
        // (docs/benchmarks/runs/14.md).
        let referral = matches!(event.kind, EventKind::ReferralAccepted(_));
        if referral && let Some(stored) = self.seen(&event_key, mode)? {
            return self.settle(stored, mode);
        }
        if let (Some(group), true) = (group.as_deref_mut(), referral) {
            group.commit(); // the invitation chain is read before locking
        }
        let targets = self.targets(&brand, &event)?;
        let locks = self.lock_targets(&brand, &event, &event_key, &targets, group.as_deref_mut());
        // Checked under the locks, so that of two concurrent copies of an event one applies.
        if let Some(stored) = self.seen(&event_key, mode)? {
            return self.settle(stored, mode);
        }

        let (outcome, batch) = self.evaluate(&event, &brand, &targets, mode, &event_key)?;
        if !mode.commits() {
            return Ok(outcome);
        }
        self.commit_event(outcome, batch, mode, group, locks)
    }

    /// The stored outcome of an event id applied before; none when re-evaluating, which
    /// treats every event as new.
    fn seen(&self, event_key: &[u8], mode: Mode<'_>) -> Result<Option<EventOutcome>, StorageError> {
        if mode.reevaluates() {
            return Ok(None);
        }
        self.stored_outcome(event_key)
    }

    /// Takes the locks of the members the event writes: the group's, when it is grouped
    /// (then none are returned), or the member locks until the event is committed.
    fn lock_targets(
        &self,
        brand: &Brand,
        event: &Event,
        event_key: &[u8],
        targets: &[Event],
        group: Option<&mut Group<'_>>,
    ) -> Vec<StripeGuard<'_>> {
        let writes = targets.iter().map(|t| t.member_id.as_str());
        match group {
            Some(group) => {
                group.admit(&Access {
                    brand: &brand.id,
                    writes: writes.collect(),
                    reads: sign_up_inviter(event).into_iter().collect(),
                    order: order_id(event),
                    event_key,
                });
                Vec::new()
            }
            None => self.locks.lock(&brand.id, writes),
        }
    }

    /// Evaluates the event for each target — host bookkeeping, then the plugin chain — and
    /// returns the outcome and the batch that would apply it (members, ledger entries,
    /// orders), guarded by the event id.
    fn evaluate(
        &self,
        event: &Event,
        brand: &Brand,
        targets: &[Event],
        mode: Mode<'_>,
        event_key: &[u8],
    ) -> Result<(EventOutcome, Batch), PipelineError> {
        let snapshot;
        let chain: &BrandPlugins = match mode {
            Mode::Reevaluate(chain) => chain,
            Mode::Ingest { .. } | Mode::DryRun => {
                snapshot = self.registry.snapshot(&brand.id);
                &snapshot
            }
        };
        let catalog = self.catalogs.get(&self.db, brand);
        let mut outcome = EventOutcome::new(event, !mode.commits());
        let mut batch = Batch {
            guard: Some(event_key.to_vec()),
            ..Batch::default()
        };
        for target_event in targets {
            let mut member = self.load_target(brand, target_event, mode)?;
            if !mode.reevaluates() {
                self.refuse_recorded_order(brand, target_event)?;
            }
            let day = local_day_number(target_event.occurred_at, brand.utc_offset_minutes);
            let mut changes = Changes::default();
            let cause = chain::cause(target_event, brand, day, None);
            self.host_actions(
                brand,
                target_event,
                &mut member,
                &mut changes,
                &cause,
                &mut outcome,
            )?;
            let mut target = Target {
                event: target_event,
                brand,
                member,
                changes,
                catalog: &catalog,
                day,
            };
            if let Err(failure) = self.run_chain(chain, &mut target, &mut outcome) {
                return Err(self.abort(event, failure, !mode.commits()));
            }
            stage_member(
                &mut batch,
                &mut outcome,
                brand,
                &target.member,
                &target.changes,
            );
        }
        Ok((outcome, batch))
    }

    /// Commits the event's batch (or stages it in the group) with its outcome under the
    /// batch's guard, the event id; releases the members' locks, and settles.
    fn commit_event(
        &self,
        outcome: EventOutcome,
        mut batch: Batch,
        mode: Mode<'_>,
        group: Option<&mut Group<'_>>,
        locks: Vec<StripeGuard<'_>>,
    ) -> Result<EventOutcome, PipelineError> {
        let event_key = Db::event_key(&outcome.brand, &outcome.event_id);
        batch.put(event_key, &outcome);
        self.dead_letters.clear(
            &mut batch,
            Db::dead_letter_key(&outcome.brand, &outcome.event_id),
        );
        if let Some(group) = group {
            group.stage(batch);
            return Ok(outcome);
        }
        let committed = self.db.commit(&batch)?;
        // The next event of these members may run during our flush: it reads what is
        // committed, and commits become durable in order (see `KvStore`), so a crash before
        // the flush loses it with ours, neither acknowledged. A member's burst of events
        // then shares flushes instead of waiting for one each.
        drop(locks);
        match committed {
            Committed::Applied => self.settle(outcome, mode),
            Committed::GuardExists(bytes) => self.settle(duplicate(&bytes)?, mode),
        }
    }

    /// Returns an outcome once it may be acknowledged: when the mode flushes, after a flush
    /// that began after the commit. A stored outcome is flushed too, since the copy of the
    /// event that stored it may not have reached the disk yet.
    fn settle(&self, outcome: EventOutcome, mode: Mode<'_>) -> Result<EventOutcome, PipelineError> {
        if mode.flushes() {
            self.db.flush()?;
        }
        Ok(outcome)
    }

    fn stored_outcome(&self, key: &[u8]) -> Result<Option<EventOutcome>, StorageError> {
        Ok(self.db.get::<EventOutcome>(key)?.map(|mut stored| {
            stored.duplicate = true;
            stored
        }))
    }

    /// Records the event as a dead letter (unless dry run) and returns the error that
    /// reports the abort (or the storage error that kept it from being recorded).
    fn abort(&self, event: &Event, failure: PluginFailure, dry_run: bool) -> PipelineError {
        tracing::warn!(%failure, "plugin failed; event aborted");
        if !dry_run && let Err(error) = self.record_dead_letter(event, &failure) {
            return error;
        }
        PipelineError::Aborted {
            event_id: event.id.clone(),
            failure: Box::new(failure),
        }
    }

    fn record_dead_letter(
        &self,
        event: &Event,
        failure: &PluginFailure,
    ) -> Result<(), PipelineError> {
        let key = Db::dead_letter_key(&event.brand, &event.id);
        let attempts = self.db.get::<DeadLetter>(&key)?.map_or(0, |d| d.attempts) + 1;
        self.dead_letters.add(&key);
        let mut batch = Batch::default();
        batch.put(
            key,
            &DeadLetter {
                event: event.clone(),
                failure: failure.clone(),
                attempts,
            },
        );
        self.write(&batch)
    }
}

/// Adds what the chain left of one member to the outcome and the event's batch.
fn stage_member(
    batch: &mut Batch,
    outcome: &mut EventOutcome,
    brand: &Brand,
    member: &Member,
    changes: &Changes,
) {
    outcome
        .ledger
        .extend(changes.ledger.iter().map(|entry| MemberLedgerEntry {
            member_id: member.id.clone(),
            entry: entry.clone(),
        }));
    outcome.members.push(MemberState {
        id: member.id.clone(),
        tier: member.tier.clone(),
        points: member.points,
    });
    for entry in &changes.ledger {
        batch.put(Db::ledger_key(&brand.id, &member.id, entry.seq), entry);
    }
    if let Some(order) = &changes.order {
        batch.put(Db::order_key(&brand.id, &member.id, &order.order_id), order);
        batch.put(Db::order_owner_key(&brand.id, &order.order_id), &member.id);
    }
    batch.put(Db::member_key(&brand.id, &member.id), member);
}

/// A purchase's order id.
pub(crate) fn order_id(event: &Event) -> Option<&str> {
    match &event.kind {
        EventKind::Purchase(p) => Some(p.order_id.as_str()),
        _ => None,
    }
}

/// The inviter a sign-up names (read to check they are a member).
fn sign_up_inviter(event: &Event) -> Option<&str> {
    match &event.kind {
        EventKind::SignUp(sign_up) => sign_up.inviter.as_deref(),
        _ => None,
    }
}

fn duplicate(bytes: &[u8]) -> Result<EventOutcome, StorageError> {
    let mut stored: EventOutcome =
        serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt {
            key: "event".into(),
            message: e.to_string(),
        })?;
    stored.duplicate = true;
    Ok(stored)
}
