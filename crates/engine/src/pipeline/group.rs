//! The events of one batch committed together ([`Rulebox::ingest_all`]).
//!
//! Every sled transaction costs a disk write and a sync when it starts, so one transaction
//! per event capped durable throughput near 10k events/s (docs/benchmarks/runs/08.md). A group
//! stages the writes of consecutive events and commits them in one transaction. Each event
//! is still checked, evaluated and answered exactly as [`Rulebox::ingest`] would; only its
//! writes wait. Three rules keep that equivalent to one event at a time:
//! - the group holds the lock of every member it staged writes for until it commits, so
//!   no other caller reads a member whose change is not yet committed;
//! - an event that would read what the group staged (the same member, order id or event
//!   id, or a referral, whose invitation chain is read before locking) commits the group
//!   first, so it sees every earlier event's result;
//! - a group never waits for a lock while holding others: finding a stripe taken, it
//!   commits and releases what it holds first, so two groups cannot deadlock.
//!
//! [`Rulebox::ingest_all`]: super::Rulebox::ingest_all
//! [`Rulebox::ingest`]: super::Rulebox::ingest

use std::collections::{HashMap, HashSet};

use super::locks::{MemberLocks, StripeGuard};
use super::{EventOutcome, PipelineError, duplicate};
use rulebox_store::{Batch, Committed, Db};

/// Most events one transaction commits: beyond this the saving is small (sled alone
/// reaches its plain-insert rate) while the members stay locked longer.
pub const GROUP_EVENTS: usize = 128;

/// What one event will touch, to decide whether it may join the group.
pub struct Access<'e> {
    pub brand: &'e str,
    /// Members the event writes (and so locks).
    pub writes: Vec<&'e str>,
    /// Other members it reads (a sign-up's inviter).
    pub reads: Vec<&'e str>,
    /// A purchase's order id, which must be unique per brand.
    pub order: Option<&'e str>,
    pub event_key: &'e [u8],
}

/// Staged writes of events not yet committed, and the locks they hold.
pub struct Group<'a> {
    db: &'a Db,
    locks: &'a MemberLocks,
    held: HashMap<usize, StripeGuard<'a>>,
    /// Keys the staged events write or guard, by kind.
    members: HashSet<Vec<u8>>,
    orders: HashSet<Vec<u8>>,
    events: HashSet<Vec<u8>>,
    /// Each staged event's position in the batch, and its writes.
    staged: Vec<(usize, Batch)>,
    /// The position of the event being processed.
    current: usize,
    /// Answers that replace an event's tentative outcome once its group committed: a copy
    /// found at commit time, or the commit's failure.
    corrections: Vec<(usize, Result<EventOutcome, PipelineError>)>,
}

impl<'a> Group<'a> {
    pub fn new(db: &'a Db, locks: &'a MemberLocks) -> Self {
        Group {
            db,
            locks,
            held: HashMap::new(),
            members: HashSet::new(),
            orders: HashSet::new(),
            events: HashSet::new(),
            staged: Vec::new(),
            current: 0,
            corrections: Vec::new(),
        }
    }

    /// Sets the batch position of the next event processed.
    pub fn next_event(&mut self, position: usize) {
        self.current = position;
    }

    /// Takes the locks an event needs, first committing the group if the event would read
    /// something it staged or a lock is taken by someone else.
    pub fn admit(&mut self, access: &Access) {
        let member_keys: Vec<Vec<u8>> = access
            .writes
            .iter()
            .chain(&access.reads)
            .map(|m| Db::member_key(access.brand, m))
            .collect();
        let order_key = access.order.map(|o| Db::order_owner_key(access.brand, o));
        let conflict = member_keys.iter().any(|k| self.members.contains(k))
            || order_key.as_ref().is_some_and(|k| self.orders.contains(k))
            || self.events.contains(access.event_key);
        if conflict {
            self.commit();
        }
        self.lock(MemberLocks::stripes(
            access.brand,
            access.writes.iter().copied(),
        ));
        self.members
            .extend(member_keys.into_iter().take(access.writes.len()));
        self.orders.extend(order_key);
        self.events.insert(access.event_key.to_vec());
    }

    fn lock(&mut self, stripes: Vec<usize>) {
        let mut taken = Vec::new();
        for &i in stripes.iter().filter(|i| !self.held.contains_key(i)) {
            match self.locks.try_lock_stripe(i) {
                Some(guard) => taken.push((i, guard)),
                None => {
                    // Wait holding nothing: commit, release, then lock in stripe order.
                    drop(taken);
                    self.commit();
                    for i in stripes {
                        self.held.insert(i, self.locks.lock_stripe(i));
                    }
                    return;
                }
            }
        }
        self.held.extend(taken);
    }

    /// Stages an event's writes; commits when the group is full.
    pub fn stage(&mut self, batch: Batch) {
        self.staged.push((self.current, batch));
        if self.staged.len() >= GROUP_EVENTS {
            self.commit();
        }
    }

    /// Commits what is staged in one transaction and releases every lock.
    pub fn commit(&mut self) {
        if !self.staged.is_empty() {
            let (positions, batches): (Vec<usize>, Vec<Batch>) = self.staged.drain(..).unzip();
            match self.db.commit_all(&batches) {
                Ok(committed) => {
                    for (position, committed) in positions.into_iter().zip(committed) {
                        if let Committed::GuardExists(bytes) = committed {
                            let answer = duplicate(&bytes).map_err(PipelineError::Storage);
                            self.corrections.push((position, answer));
                        }
                    }
                }
                Err(error) => self.corrections.extend(
                    positions
                        .into_iter()
                        .map(|p| (p, Err(PipelineError::Storage(error.clone())))),
                ),
            }
        }
        self.held.clear();
        self.members.clear();
        self.orders.clear();
        self.events.clear();
    }

    /// Commits the rest and corrects `results` (one per event of the batch, in order).
    pub fn finish(mut self, results: &mut [Result<EventOutcome, PipelineError>]) {
        self.commit();
        for (position, answer) in self.corrections.drain(..) {
            results[position] = answer;
        }
    }
}
