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

mod apply;
#[cfg(test)]
mod apply_props;
mod group;
mod locks;
mod memo;
mod outcome;
mod replay;
mod stats;
mod view;

use std::path::Path;
use std::sync::Arc;

use crate::registry::{ActivePlugin, BrandPlugins, FailurePolicy, Registry};
use crate::sandbox::BrandData;
use crate::sandbox::bindings::{Effect, Event, EventKind, Query, Referral};
use crate::sandbox::{CallEnv, Sandbox, SandboxConfig};
use crate::store::model::{Brand, DeadLetter, LedgerEntry, Member, MemberProfile, Stock, Store};
use crate::store::{Batch, Catalogs, Committed, Db, KvStore, MemoryKv, SledKv, StorageError};
use crate::validate::{check_event, check_id, check_time};
use apply::{Cause, Changes};
use group::{Access, Group};
use locks::MemberLocks;
pub use outcome::{
    AppliedEffect, CallStat, EventOutcome, MemberLedgerEntry, MemberState, PipelineError,
    PluginAnswer, QueryOutcome,
};
pub use replay::{ReplayItem, ReplayReport, ReplayStatus, ReplaySummary};
pub use stats::{Percentiles, PluginStats, PluginStatsView, VersionStatsView, WINDOW};
pub use view::member_view;

/// What a sweep did: the outcome per member, and the members whose tick failed.
#[derive(Debug)]
pub struct SweepReport {
    pub outcomes: Vec<EventOutcome>,
    pub failed: Vec<(String, PipelineError)>,
}

/// Referral rewards never go deeper than this many levels (a legal limit in China).
pub const MAX_REFERRAL_LEVELS: u8 = 3;

/// The rulebox platform in one value: storage, sandbox, plugin registry and pipeline.
pub struct Rulebox {
    db: Db,
    sandbox: Arc<Sandbox>,
    registry: Registry,
    locks: MemberLocks,
    stats: PluginStats,
    /// Brands' stores, stock and catalog as plugins read them, held in memory.
    catalogs: Catalogs,
    /// Brand records, held in memory.
    brands: memo::Brands,
    /// Which events may have a dead letter to delete when they are applied.
    dead_letters: memo::DeadLetters,
    /// Runs chain members in place of the sandbox when set (benchmarks only).
    runner: Option<Arc<dyn EventRunner>>,
}

/// Runs one chain member's `on-event` in place of the sandbox. Production never sets one;
/// the benchmark suite does, to run the same pipeline with the rules compiled natively
/// ([`Rulebox::set_event_runner`]).
pub trait EventRunner: Send + Sync {
    /// What `Sandbox::on_event` would answer for `plugin` on `event`.
    fn on_event(
        &self,
        plugin: &ActivePlugin,
        env: CallEnv,
        event: &Event,
    ) -> Result<crate::sandbox::CallReport<Vec<Effect>>, crate::sandbox::PluginFailure>;
}

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
    /// Opens (or creates) a host whose data lives in `data_dir`: the sled database in
    /// `data_dir/db` and compiled plugins in `data_dir/compiled`.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Self::open_with_cache(data_dir, crate::store::CACHE_BYTES)
    }

    /// [`Rulebox::open`] with a storage page cache of `cache_bytes` (see
    /// [`SledKv::open_with_cache`]).
    pub fn open_with_cache(data_dir: &Path, cache_bytes: u64) -> anyhow::Result<Self> {
        let kv = Arc::new(SledKv::open_with_cache(&data_dir.join("db"), cache_bytes)?);
        let sandbox = SandboxConfig {
            cache_dir: Some(data_dir.join("compiled")),
            ..SandboxConfig::default()
        };
        Self::with_storage(kv, sandbox)
    }

    /// A host that keeps everything in memory (tests, tools).
    pub fn in_memory() -> anyhow::Result<Self> {
        Self::with_storage(Arc::new(MemoryKv::new()), SandboxConfig::default())
    }

    /// A host over any storage backend.
    pub fn with_storage(kv: Arc<dyn KvStore>, sandbox: SandboxConfig) -> anyhow::Result<Self> {
        let db = Db::new(kv);
        let sandbox = Arc::new(Sandbox::new(sandbox)?);
        let registry = Registry::open(db.clone(), sandbox.clone())?;
        let dead_letters = memo::DeadLetters::load(&db, &db.brands()?)?;
        Ok(Rulebox {
            db,
            sandbox,
            registry,
            locks: MemberLocks::new(),
            stats: PluginStats::default(),
            catalogs: Catalogs::default(),
            brands: memo::Brands::default(),
            dead_letters,
            runner: None,
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Runs every chain member's `on-event` with `runner` instead of the sandbox. For
    /// benchmarks comparing the pipeline with native rules; never set in production.
    pub fn set_event_runner(&mut self, runner: Arc<dyn EventRunner>) {
        self.runner = Some(runner);
    }

    // ----- brands, members, catalog --------------------------------------------------------

    /// Creates or updates a brand.
    pub fn put_brand(&self, brand: &Brand) -> Result<(), PipelineError> {
        check_id("brand", &brand.id).map_err(PipelineError::InvalidEvent)?;
        let mut batch = Batch::default();
        batch.put(Db::brand_key(&brand.id), brand);
        self.brands.put(brand, || {
            self.db.commit(&batch)?;
            self.db.flush()
        })?;
        // The time zone decides which stores are open now.
        self.catalogs.invalidate(&brand.id);
        Ok(())
    }

    fn brand(&self, id: &str) -> Result<Arc<Brand>, PipelineError> {
        self.brands
            .get(&self.db, id)?
            .ok_or_else(|| PipelineError::UnknownBrand(id.to_owned()))
    }

    /// Creates a member or updates their profile (points and history are left alone).
    pub fn put_member(&self, brand: &str, profile: MemberProfile) -> Result<Member, PipelineError> {
        let id = profile.id.clone();
        self.put_members(brand, vec![profile])?;
        self.member(brand, &id)
    }

    /// Creates or updates many members, 1,000 to an atomic batch (imports). New members get
    /// their `opening_points` as an opening award in the ledger and their imported
    /// `lifetime` activity; existing members keep their points and history.
    pub fn put_members(
        &self,
        brand: &str,
        profiles: Vec<MemberProfile>,
    ) -> Result<usize, PipelineError> {
        self.brand(brand)?;
        let mut count = 0;
        for chunk in profiles.chunks(1000) {
            for profile in chunk {
                check_id("member id", &profile.id).map_err(PipelineError::InvalidEvent)?;
                if profile.opening_points < 0 {
                    return Err(PipelineError::InvalidEvent(format!(
                        "member {}: opening_points must not be negative",
                        profile.id
                    )));
                }
            }
            let _locks = self.locks.lock(brand, chunk.iter().map(|p| p.id.as_str()));
            let mut batch = Batch::default();
            for profile in chunk {
                let existing = self.db.member(brand, &profile.id)?;
                let created = existing.is_none();
                let mut member = existing
                    .unwrap_or_else(|| Member::new(&profile.id, profile.joined_at.unwrap_or(0)));
                apply_profile(&mut member, profile.clone());
                if created {
                    let mut changes = Changes::default();
                    if profile.opening_points > 0 {
                        let cause = Cause {
                            event_id: "import",
                            at: member.joined_at,
                            plugin: None,
                            order_id: None,
                            day: 0,
                            window_days: 0,
                        };
                        let award = crate::sandbox::bindings::Effect::AwardPoints(
                            crate::sandbox::bindings::Award {
                                amount: profile.opening_points,
                                reason: "opening balance (import)".into(),
                                expires_at: None,
                            },
                        );
                        apply::apply_effect(&mut member, &mut changes, &cause, &award)
                            .map_err(PipelineError::InvalidEvent)?;
                        member.days.clear();
                    }
                    if let Some(lifetime) = profile.lifetime {
                        member.lifetime = lifetime;
                    }
                    for entry in &changes.ledger {
                        batch.put(Db::ledger_key(brand, &member.id, entry.seq), entry);
                    }
                }
                batch.put(Db::member_key(brand, &member.id), &member);
                count += 1;
            }
            self.write(&batch)?;
        }
        Ok(count)
    }

    /// Adds or replaces stores.
    pub fn put_stores(&self, brand: &str, stores: &[Store]) -> Result<(), PipelineError> {
        self.put_all(brand, stores, |s| (&s.id, Db::store_key(brand, &s.id)))
    }

    /// Adds or replaces catalog entries.
    pub fn put_products(
        &self,
        brand: &str,
        products: &[crate::sandbox::bindings::Product],
    ) -> Result<(), PipelineError> {
        self.put_all(brand, products, |p| (&p.id, Db::product_key(brand, &p.id)))
    }

    /// Sets stock levels.
    pub fn put_stock(&self, brand: &str, stock: &[Stock]) -> Result<(), PipelineError> {
        for s in stock {
            check_id("store id", &s.store_id).map_err(PipelineError::InvalidEvent)?;
        }
        self.put_all(brand, stock, |s| {
            (
                &s.product_id,
                Db::stock_key(brand, &s.store_id, &s.product_id),
            )
        })
    }

    fn put_all<T: serde::Serialize>(
        &self,
        brand: &str,
        items: &[T],
        key: impl Fn(&T) -> (&String, Vec<u8>),
    ) -> Result<(), PipelineError> {
        self.brand(brand)?;
        let mut batch = Batch::default();
        for item in items {
            let (id, key) = key(item);
            check_id("id", id).map_err(PipelineError::InvalidEvent)?;
            batch.put(key, item);
        }
        self.write(&batch)?;
        self.catalogs.invalidate(brand);
        Ok(())
    }

    fn write(&self, batch: &Batch) -> Result<(), PipelineError> {
        self.db.commit(batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// A member's record.
    pub fn member(&self, brand: &str, id: &str) -> Result<Member, PipelineError> {
        self.db
            .member(brand, id)?
            .ok_or_else(|| PipelineError::UnknownMember {
                brand: brand.into(),
                member: id.into(),
            })
    }

    /// A page of a member's ledger.
    pub fn ledger(
        &self,
        brand: &str,
        member: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, PipelineError> {
        Ok(self.db.ledger(brand, member, after, limit)?)
    }

    // ----- events ---------------------------------------------------------------------------

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
        let dry_run = !mode.commits();
        // A repeat is answered from the check under the locks below. Only a referral, whose
        // targets are read from the invitation chain first, checks before that as well: a
        // read is not free, since sled's reads wait while anything commits (run 14).
        let referral = matches!(event.kind, EventKind::ReferralAccepted(_));
        if referral
            && !mode.reevaluates()
            && let Some(stored) = self.stored_outcome(&event_key)?
        {
            return self.settle(stored, mode);
        }
        if let (Some(group), true) = (group.as_deref_mut(), referral) {
            group.commit(); // the invitation chain is read before locking
        }
        let targets = self.targets(&brand, &event)?;
        let writes = targets.iter().map(|t| t.member_id.as_str());
        let _locks = match group.as_deref_mut() {
            Some(group) => {
                group.admit(&Access {
                    brand: &brand.id,
                    writes: writes.collect(),
                    reads: sign_up_inviter(&event).into_iter().collect(),
                    order: order_id(&event),
                    event_key: &event_key,
                });
                Vec::new()
            }
            None => self.locks.lock(&brand.id, writes),
        };
        // Checked under the locks, so that of two concurrent copies of an event one applies.
        if !mode.reevaluates()
            && let Some(stored) = self.stored_outcome(&event_key)?
        {
            return self.settle(stored, mode);
        }

        let snapshot;
        let chain: &BrandPlugins = match mode {
            Mode::Reevaluate(chain) => chain,
            Mode::Ingest { .. } | Mode::DryRun => {
                snapshot = self.registry.snapshot(&brand.id);
                &snapshot
            }
        };
        let catalog = self.catalogs.get(&self.db, &brand);
        let mut outcome = EventOutcome {
            event_id: event.id.clone(),
            brand: brand.id.clone(),
            duplicate: false,
            dry_run,
            effects: Vec::new(),
            ledger: Vec::new(),
            failures: Vec::new(),
            notes: Vec::new(),
            members: Vec::new(),
            calls: Vec::new(),
        };
        let mut batch = Batch {
            guard: Some(event_key.clone()),
            ..Batch::default()
        };

        for target in &targets {
            let mut member = self.load_target(&brand, target, mode)?;
            let day =
                rulebox_sdk::time::local_day_number(target.occurred_at, brand.utc_offset_minutes);
            let order_id = order_id(target);
            let cause = |plugin| Cause {
                event_id: &event.id,
                at: target.occurred_at,
                plugin,
                order_id,
                day,
                window_days: brand.window_days,
            };
            let mut changes = Changes::default();
            if !mode.reevaluates() {
                self.refuse_recorded_order(&brand, target)?;
            }
            self.host_actions(
                &brand,
                target,
                &mut member,
                &mut changes,
                &cause(None),
                &mut outcome,
            )?;

            for active in chain.for_event(target.kind.event_type()) {
                let description = &active.plugin.description;
                let call_seed = seed(&brand.id, &target.id, &target.member_id, &description.name);
                let env = call_env(
                    active,
                    &member,
                    &brand,
                    target.occurred_at,
                    call_seed,
                    &catalog,
                );
                let plugin_cause = cause(Some((
                    description.name.as_str(),
                    description.version.as_str(),
                )));
                let result = match &self.runner {
                    Some(runner) => runner.on_event(active, env, target),
                    None => self.sandbox.on_event(&active.plugin, env, target),
                }
                .and_then(|report| {
                    // All of a plugin's effects apply, or none.
                    let (mut trial, mut trial_changes) = (member.clone(), changes.clone());
                    let applied = report.output.iter().try_for_each(|effect| {
                        apply::apply_effect(&mut trial, &mut trial_changes, &plugin_cause, effect)
                    });
                    match applied {
                        Ok(()) => {
                            member = trial;
                            changes = trial_changes;
                            Ok(report)
                        }
                        Err(message) => Err(crate::sandbox::PluginFailure {
                            plugin: description.name.clone(),
                            version: description.version.clone(),
                            subject: format!("event {}", target.id),
                            cause: crate::sandbox::FailureCause::InvalidEffect { message },
                            stderr: String::new(),
                        }),
                    }
                });
                self.stats
                    .record(&brand.id, &description.name, &description.version, &result);
                match result {
                    Ok(report) => {
                        outcome.calls.push(CallStat {
                            plugin: description.name.clone(),
                            version: description.version.clone(),
                            member_id: member.id.clone(),
                            fuel_used: report.fuel_used,
                            elapsed_us: report.elapsed_us,
                        });
                        log_plugin_output(&description.name, &target.id, &report);
                        outcome
                            .effects
                            .extend(report.output.into_iter().map(|effect| AppliedEffect {
                                member_id: member.id.clone(),
                                plugin: description.name.clone(),
                                version: description.version.clone(),
                                effect,
                            }));
                    }
                    Err(failure) if active.manifest.on_failure == FailurePolicy::Skip => {
                        tracing::warn!(%failure, "plugin failed; skipped as configured");
                        outcome.failures.push(failure);
                    }
                    Err(failure) => return self.abort(&event, failure, dry_run),
                }
            }

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
            batch.put(Db::member_key(&brand.id, &member.id), &member);
        }

        if dry_run {
            return Ok(outcome);
        }
        batch.put(event_key, &outcome);
        self.dead_letters
            .clear(&mut batch, Db::dead_letter_key(&brand.id, &event.id));
        if let Some(group) = group {
            group.stage(batch);
            return Ok(outcome);
        }
        let committed = self.db.commit(&batch)?;
        // The next event of these members may run during our flush: it reads what is
        // committed, and commits become durable in order (see `KvStore`), so a crash before
        // the flush loses it with ours, neither acknowledged. A member's burst of events
        // then shares flushes instead of waiting for one each.
        drop(_locks);
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

    /// Records the event as a dead letter (unless dry run) and reports the abort.
    fn abort(
        &self,
        event: &Event,
        failure: crate::sandbox::PluginFailure,
        dry_run: bool,
    ) -> Result<EventOutcome, PipelineError> {
        tracing::warn!(%failure, "plugin failed; event aborted");
        if !dry_run {
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
            self.write(&batch)?;
        }
        Err(PipelineError::Aborted {
            event_id: event.id.clone(),
            failure: Box::new(failure),
        })
    }

    /// The per-member events an event stands for: itself, or for a referral one per level of
    /// the invitation chain (at most [`MAX_REFERRAL_LEVELS`]).
    fn targets(&self, brand: &Brand, event: &Event) -> Result<Vec<Event>, PipelineError> {
        let EventKind::ReferralAccepted(referral) = &event.kind else {
            return Ok(vec![event.clone()]);
        };
        let invitee = self.member(&brand.id, &referral.invitee_id)?;
        if invitee.inviter.as_deref() != Some(event.member_id.as_str()) {
            return Err(PipelineError::InvalidEvent(format!(
                "member {} was not invited by {}; a referral event names the direct inviter as its member",
                referral.invitee_id, event.member_id
            )));
        }
        let mut targets = Vec::new();
        let mut current = Some(event.member_id.clone());
        for level in 1..=MAX_REFERRAL_LEVELS {
            let Some(member_id) = current.take() else {
                break;
            };
            if member_id == invitee.id || targets.iter().any(|t: &Event| t.member_id == member_id) {
                break; // a cycle in the invitation chain
            }
            let Some(member) = self.db.member(&brand.id, &member_id)? else {
                break;
            };
            let mut copy = event.clone();
            copy.member_id = member_id;
            copy.kind = EventKind::ReferralAccepted(Referral {
                invitee_id: referral.invitee_id.clone(),
                level,
            });
            targets.push(copy);
            current = member.inviter;
        }
        Ok(targets)
    }

    /// The member an event is for, created by a sign-up.
    fn load_target(
        &self,
        brand: &Brand,
        event: &Event,
        mode: Mode<'_>,
    ) -> Result<Member, PipelineError> {
        let existing = self.db.member(&brand.id, &event.member_id)?;
        match (&event.kind, existing) {
            (EventKind::SignUp(_), Some(member)) if member.signed_up && !mode.reevaluates() => {
                Err(PipelineError::InvalidEvent(format!(
                    "member {} has already signed up; a second sign-up would repeat its rewards",
                    member.id
                )))
            }
            (EventKind::SignUp(_), existing) => {
                Ok(existing.unwrap_or_else(|| Member::new(&event.member_id, event.occurred_at)))
            }
            (_, Some(member)) => Ok(member),
            (_, None) => Err(PipelineError::UnknownMember {
                brand: brand.id.clone(),
                member: event.member_id.clone(),
            }),
        }
    }

    /// Refuses a purchase whose order id is already recorded: order ids are unique per
    /// brand, whichever member they were sent for.
    fn refuse_recorded_order(&self, brand: &Brand, event: &Event) -> Result<(), PipelineError> {
        let EventKind::Purchase(purchase) = &event.kind else {
            return Ok(());
        };
        let owner = self
            .db
            .get::<String>(&Db::order_owner_key(&brand.id, &purchase.order_id))?;
        match owner {
            Some(owner) => Err(PipelineError::InvalidEvent(format!(
                "order {} was already recorded for member {owner}; send a new order id",
                purchase.order_id
            ))),
            None => Ok(()),
        }
    }

    /// What the host does itself before the plugins run.
    fn host_actions(
        &self,
        brand: &Brand,
        event: &Event,
        member: &mut Member,
        changes: &mut Changes,
        cause: &Cause,
        outcome: &mut EventOutcome,
    ) -> Result<(), PipelineError> {
        match &event.kind {
            EventKind::SignUp(sign_up) => {
                member.signed_up = true;
                member.channel = Some(sign_up.channel.clone());
                member.staff_id = sign_up.staff_id.clone();
                if let Some(inviter) = &sign_up.inviter {
                    if self.db.member(&brand.id, inviter)?.is_some() {
                        member.inviter = Some(inviter.clone());
                    } else {
                        outcome.notes.push(format!(
                            "inviter {inviter} is not a member; sign-up recorded without referral"
                        ));
                    }
                }
            }
            EventKind::Purchase(purchase) => {
                apply::record_purchase(member, changes, cause, purchase)
                    .map_err(PipelineError::InvalidEvent)?;
            }
            EventKind::Refund(refund) => {
                let order = self.db.order(&brand.id, &member.id, &refund.order_id)?;
                if order.is_none() {
                    outcome.notes.push(format!(
                        "no purchase of order {} is recorded; no points reversed",
                        refund.order_id
                    ));
                }
                let reversed = apply::record_refund(member, changes, cause, refund, order);
                if reversed > 0 {
                    outcome.notes.push(format!(
                        "reversed {reversed} points earned by order {}",
                        refund.order_id
                    ));
                }
            }
            EventKind::ScheduledTick(_) => {
                let expired = apply::expire_due(member, changes, cause);
                if expired > 0 {
                    outcome
                        .notes
                        .push(format!("expired {expired} points of member {}", member.id));
                }
            }
            EventKind::ReferralAccepted(referral) => {
                outcome.notes.push(format!(
                    "referral level {} for member {}",
                    referral.level, member.id
                ));
            }
            _ => {}
        }
        Ok(())
    }

    // ----- queries --------------------------------------------------------------------------

    /// Runs the brand's plugins that answer this kind of query; changes nothing.
    pub fn query(&self, query: Query) -> Result<QueryOutcome, PipelineError> {
        check_id("brand", &query.brand).map_err(PipelineError::InvalidEvent)?;
        check_id("member_id", &query.member_id).map_err(PipelineError::InvalidEvent)?;
        check_time("at", query.at).map_err(PipelineError::InvalidEvent)?;
        let brand = self.brand(&query.brand)?;
        let member = self.member(&brand.id, &query.member_id)?;
        let catalog = self.catalogs.get(&self.db, &brand);
        let chain = self.registry.snapshot(&brand.id);
        let mut outcome = QueryOutcome {
            answers: Vec::new(),
            failures: Vec::new(),
        };
        for active in chain.for_query(query.kind.query_type()) {
            let description = &active.plugin.description;
            let call_seed = seed(
                &brand.id,
                &format!("query@{}", query.at),
                &member.id,
                &description.name,
            );
            let env = call_env(active, &member, &brand, query.at, call_seed, &catalog);
            let result = self.sandbox.on_query(&active.plugin, env, &query);
            self.stats
                .record(&brand.id, &description.name, &description.version, &result);
            match result {
                Ok(report) => {
                    log_plugin_output(&description.name, "query", &report);
                    outcome.answers.push(PluginAnswer {
                        plugin: description.name.clone(),
                        version: description.version.clone(),
                        answer: report.output,
                    });
                }
                Err(failure) => outcome.failures.push(failure),
            }
        }
        Ok(outcome)
    }

    /// Sends a scheduled tick to every member of a brand (expiry, downgrades), each with the
    /// event id `tick:<schedule>:<at>:<member>` so a repeated sweep changes nothing.
    /// Returns the outcomes and the members whose tick failed. Members are ticked 500 at a
    /// time, each page as one [`Rulebox::ingest_all`] (grouped commits, one flush).
    pub fn sweep(
        &self,
        brand: &str,
        schedule: &str,
        at: i64,
    ) -> Result<SweepReport, PipelineError> {
        self.brand(brand)?;
        let (mut done, mut failed) = (Vec::new(), Vec::new());
        let mut after: Option<String> = None;
        loop {
            let page = self.db.members(brand, after.as_deref(), 500)?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            // A page shares its commits and one flush (`ingest_all`).
            let (ids, events): (Vec<String>, Vec<Event>) = page
                .into_iter()
                .map(|member| {
                    let event = Event {
                        id: format!("tick:{schedule}:{at}:{}", member.id),
                        brand: brand.to_owned(),
                        member_id: member.id.clone(),
                        occurred_at: at,
                        kind: EventKind::ScheduledTick(crate::sandbox::bindings::Tick {
                            schedule: schedule.to_owned(),
                        }),
                    };
                    (member.id, event)
                })
                .unzip();
            for (member, result) in ids.into_iter().zip(self.ingest_all(events)) {
                match result {
                    Ok(outcome) => done.push(outcome),
                    Err(error) => failed.push((member, error)),
                }
            }
        }
        Ok(SweepReport {
            outcomes: done,
            failed,
        })
    }
}

/// A purchase's order id.
fn order_id(event: &Event) -> Option<&str> {
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

/// Sets what a profile carries on a member record (import-only fields are handled apart).
fn apply_profile(member: &mut Member, profile: MemberProfile) {
    if let Some(tier) = profile.tier {
        member.tier = tier;
    }
    if let Some(at) = profile.joined_at {
        member.joined_at = at;
    }
    member.birth_date = profile.birth_date.or(member.birth_date);
    member.city = profile.city.or(member.city.take());
    member.channel = profile.channel.or(member.channel.take());
    member.inviter = profile.inviter.or(member.inviter.take());
    member.paid_plan = profile.paid_plan.or(member.paid_plan.take());
    member.tags.extend(profile.tags);
    for tag in &profile.remove_tags {
        member.tags.remove(tag);
    }
    member.attributes.extend(profile.attributes);
}

/// Sends what a plugin logged or printed (already capped by the sandbox) to the host's log.
fn log_plugin_output<T>(plugin: &str, event: &str, report: &crate::sandbox::CallReport<T>) {
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
fn call_env(
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
fn seed(brand: &str, event_id: &str, member_id: &str, plugin: &str) -> u64 {
    let hash = blake3::hash(format!("{brand}\0{event_id}\0{member_id}\0{plugin}").as_bytes());
    u64::from_le_bytes(
        hash.as_bytes()[..8]
            .try_into()
            .expect("blake3 gives 32 bytes"),
    )
}
