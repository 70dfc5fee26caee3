//! Per-member locks, striped: events of one member run one at a time (each sees the last
//! one's result), events of different members run in parallel.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

const STRIPES: usize = 1024;

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
    pub fn lock<'a>(
        &'a self,
        brand: &str,
        members: impl IntoIterator<Item = &'a str>,
    ) -> Vec<MutexGuard<'a, ()>> {
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
            .into_iter()
            .map(|i| self.stripes[i].lock().unwrap_or_else(|e| e.into_inner()))
            .collect()
    }
}
