//! Per-member locks, striped: events of one member run one at a time (each sees the last
//! one's result), events of different members run in parallel.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, MutexGuard, TryLockError};

const STRIPES: usize = 1024;

/// One stripe's lock, held.
pub type StripeGuard<'a> = MutexGuard<'a, ()>;

pub struct MemberLocks {
    stripes: Vec<Mutex<()>>,
}

impl MemberLocks {
    pub fn new() -> Self {
        MemberLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Locks every member in `members` of `brand`, in stripe order so two events that touch
    /// the same members cannot deadlock.
    pub fn lock<'m>(
        &self,
        brand: &str,
        members: impl IntoIterator<Item = &'m str>,
    ) -> Vec<StripeGuard<'_>> {
        Self::stripes(brand, members)
            .into_iter()
            .map(|i| self.lock_stripe(i))
            .collect()
    }

    /// The stripes of `members` of `brand`, sorted and without repeats: the order to lock
    /// them in.
    pub fn stripes<'m>(brand: &str, members: impl IntoIterator<Item = &'m str>) -> Vec<usize> {
        let mut stripes: Vec<usize> = members
            .into_iter()
            .map(|member| {
                let mut hasher = DefaultHasher::new();
                (brand, member).hash(&mut hasher);
                hasher.finish() as usize % STRIPES
            })
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        stripes
    }

    /// Waits for stripe `i`. A poisoned stripe is taken anyway: it guards no data, only
    /// the order of events.
    pub fn lock_stripe(&self, i: usize) -> StripeGuard<'_> {
        self.stripes[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stripe `i` if nobody holds it.
    pub fn try_lock_stripe(&self, i: usize) -> Option<StripeGuard<'_>> {
        match self.stripes[i].try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}
