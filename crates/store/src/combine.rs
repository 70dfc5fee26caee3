//! Commits that arrive together share one transaction (flat combining).
//!
//! A sled transaction has a fixed cost (it writes the log buffer out and syncs it when it
//! starts) and sled runs one at a time. [`Rulebox::ingest`] commits each event on its own,
//! so under concurrent single-event load (the HTTP server's usual case) every event paid
//! that cost while the others queued behind it. Here the caller that finds no commit under
//! way commits everything queued (its own batches and any that arrived meanwhile) with one
//! call; callers arriving during that call queue, and the next of them to wake commits
//! them all.
//!
//! Nothing a caller sees changes: its batches are applied in the order it gave them, each
//! still atomic and checked against its guard inside the transaction ([`KvStore::commit_all`]
//! says so of a list of batches, whoever queued them), and it returns only once they are
//! committed, with their own results. Callers queue concurrently, so their relative order
//! is whatever the queue's is, as with separate transactions.
//!
//! [`Rulebox::ingest`]: rulebox_engine::Rulebox::ingest
//! [`KvStore::commit_all`]: super::KvStore::commit_all

use std::any::Any;
use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::{Batch, Committed, StorageError};

type Results = Result<Vec<Committed>, StorageError>;

/// Queues commits and runs them in shared transactions.
#[derive(Default)]
pub struct Combiner {
    state: Mutex<State>,
    /// Signalled when a shared commit finishes.
    finished: Condvar,
}

#[derive(Default)]
struct State {
    next_ticket: u64,
    /// Batches waiting for the next commit, by the caller's ticket.
    queued: Vec<(u64, Vec<Batch>)>,
    /// Results of finished commits not yet collected, by ticket.
    results: HashMap<u64, Results>,
    /// A caller is running a shared commit.
    committing: bool,
    /// Shared commits run so far.
    transactions: u64,
}

impl Combiner {
    /// Commits `batches` with `commit_all`, in one call shared with whatever other callers
    /// queued meanwhile; returns one result per batch once they are committed. If the shared
    /// call fails or panics, every caller in it gets the error.
    pub fn commit(&self, batches: &[Batch], commit_all: impl Fn(&[&Batch]) -> Results) -> Results {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        // Only a caller that waits for another's commit needs its batches copied where that
        // committer can reach them; one that commits passes its own in place.
        let mut own = Some(batches);
        if state.committing {
            state.queued.push((ticket, batches.to_vec()));
            own = None;
        }
        loop {
            if let Some(results) = state.results.remove(&ticket) {
                return results;
            }
            if state.committing {
                state = self
                    .finished
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // Our batches are still to commit and nobody is committing: commit them and the
            // queue, queued callers first (they arrived first).
            state.committing = true;
            state.transactions += 1;
            let queued = std::mem::take(&mut state.queued);
            drop(state);
            let mut callers = Vec::with_capacity(queued.len() + 1);
            let mut all = Vec::new();
            for (queued_ticket, batches) in &queued {
                callers.push((*queued_ticket, batches.len()));
                all.extend(batches);
            }
            if let Some(own) = own.take() {
                callers.push((ticket, own.len()));
                all.extend(own);
            }
            let (shared, panicked) = run(&all, &commit_all);
            state = self.lock();
            state.committing = false;
            match shared {
                Ok(results) => {
                    let mut results = results.into_iter();
                    for (caller, count) in callers {
                        let results = results.by_ref().take(count).collect();
                        state.results.insert(caller, Ok(results));
                    }
                }
                Err(error) => {
                    for (caller, _) in callers {
                        state.results.insert(caller, Err(error.clone()));
                    }
                }
            }
            self.finished.notify_all();
            if let Some(payload) = panicked {
                state.results.remove(&ticket);
                drop(state);
                panic::resume_unwind(payload);
            }
        }
    }

    /// How many shared commits have run.
    pub fn transactions(&self) -> u64 {
        self.lock().transactions
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent whenever the lock is released, even by a panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs one shared commit; a panic becomes every caller's error, and its payload is returned
/// for the caller that ran it to resume.
fn run(
    all: &[&Batch],
    commit_all: impl Fn(&[&Batch]) -> Results,
) -> (Results, Option<Box<dyn Any + Send>>) {
    match panic::catch_unwind(AssertUnwindSafe(|| commit_all(all))) {
        Ok(Ok(results)) if results.len() == all.len() => (Ok(results), None),
        Ok(Ok(results)) => {
            let message = format!(
                "the storage engine answered {} results for {} batches; nothing can be \
                 assumed committed: retry",
                results.len(),
                all.len()
            );
            (Err(StorageError::Io(message)), None)
        }
        Ok(Err(error)) => (Err(error), None),
        Err(payload) => {
            let message = "the storage engine panicked during a commit; retry, and check the logs";
            (Err(StorageError::Io(message.into())), Some(payload))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    fn batch(guard: &str) -> Batch {
        Batch {
            guard: Some(guard.as_bytes().to_vec()),
            puts: vec![(guard.as_bytes().to_vec(), b"v".to_vec())],
            deletes: Vec::new(),
        }
    }

    /// Applies like a store would: a batch whose guard exists (or an earlier batch of the
    /// same call wrote) is not applied.
    fn apply(seen: &Mutex<Vec<Vec<u8>>>, batches: &[&Batch]) -> Results {
        let mut seen = seen.lock().unwrap();
        Ok(batches
            .iter()
            .map(|b| {
                let guard = b.guard.clone().unwrap();
                if seen.contains(&guard) {
                    Committed::GuardExists(b"v".to_vec())
                } else {
                    seen.push(guard);
                    Committed::Applied
                }
            })
            .collect())
    }

    #[test]
    fn callers_that_arrive_during_a_commit_share_the_next_one() {
        let combiner = Arc::new(Combiner::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (entered, wait_entered) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        // The first caller's commit blocks until released, so the others queue behind it.
        let first = {
            let (combiner, seen, released) = (combiner.clone(), seen.clone(), released.clone());
            thread::spawn(move || {
                combiner.commit(&[batch("e-0")], |b| {
                    entered.send(()).unwrap();
                    released.lock().unwrap().recv().unwrap();
                    apply(&seen, b)
                })
            })
        };
        wait_entered.recv().unwrap();
        let others: Vec<_> = (1..=6)
            .map(|i| {
                let (combiner, seen) = (combiner.clone(), seen.clone());
                thread::spawn(move || {
                    // e-3 twice: the second copy must be refused by the first's guard.
                    let guard = if i == 6 {
                        "e-3".into()
                    } else {
                        format!("e-{i}")
                    };
                    combiner.commit(&[batch(&guard)], |b| apply(&seen, b))
                })
            })
            .collect();
        while combiner.lock().queued.len() < 6 {
            thread::sleep(Duration::from_millis(1));
        }
        release.send(()).unwrap();
        assert_eq!(first.join().unwrap().unwrap(), vec![Committed::Applied]);
        let results: Vec<Vec<Committed>> = others
            .into_iter()
            .map(|t| t.join().unwrap().unwrap())
            .collect();
        assert_eq!(combiner.transactions(), 2, "six queued callers, one commit");
        let applied = results
            .iter()
            .filter(|r| **r == vec![Committed::Applied])
            .count();
        assert_eq!(applied, 5, "{results:?}");
        assert_eq!(seen.lock().unwrap().len(), 6);
    }

    #[test]
    fn a_caller_that_finds_callers_queued_commits_theirs_first_then_its_own() {
        let combiner = Combiner::default();
        // A caller queued during a commit that has just finished, not yet woken.
        {
            let mut state = combiner.lock();
            state.next_ticket = 1;
            state.queued.push((0, vec![batch("queued")]));
        }
        let seen = Mutex::new(Vec::new());
        let own = combiner
            .commit(&[batch("own")], |b| apply(&seen, b))
            .unwrap();
        assert_eq!(own, vec![Committed::Applied]);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![b"queued".to_vec(), b"own".to_vec()]
        );
        assert_eq!(combiner.transactions(), 1, "one commit for both");
        let theirs = combiner.lock().results.remove(&0);
        assert_eq!(theirs.unwrap().unwrap(), vec![Committed::Applied]);
    }

    #[test]
    fn each_caller_gets_the_results_of_its_own_batches_in_order() {
        let combiner = Combiner::default();
        let seen = Mutex::new(vec![b"b".to_vec()]);
        let results = combiner
            .commit(&[batch("a"), batch("b"), batch("c"), batch("a")], |b| {
                apply(&seen, b)
            })
            .unwrap();
        assert_eq!(
            results,
            vec![
                Committed::Applied,
                Committed::GuardExists(b"v".to_vec()),
                Committed::Applied,
                Committed::GuardExists(b"v".to_vec()),
            ]
        );
    }

    #[test]
    fn a_failed_or_panicking_commit_fails_its_callers_and_the_next_one_runs() {
        let combiner = Combiner::default();
        let failed = combiner.commit(&[batch("a")], |_| Err(StorageError::Io("disk full".into())));
        assert!(matches!(failed, Err(StorageError::Io(m)) if m == "disk full"));
        let panicked = panic::catch_unwind(AssertUnwindSafe(|| {
            combiner.commit(&[batch("a")], |_| panic!("engine bug"))
        }));
        assert!(
            panicked.is_err(),
            "the panic reaches the caller whose commit ran"
        );
        let seen = Mutex::new(Vec::new());
        let after = combiner.commit(&[batch("a")], |b| apply(&seen, b)).unwrap();
        assert_eq!(
            after,
            vec![Committed::Applied],
            "a panic leaves no commit stuck"
        );
    }

    #[test]
    fn a_wrong_count_of_results_is_an_error_not_a_misattribution() {
        let combiner = Combiner::default();
        let result = combiner.commit(&[batch("a"), batch("b")], |_| Ok(vec![Committed::Applied]));
        assert!(matches!(result, Err(StorageError::Io(m)) if m.contains("1 results for 2")));
    }
}
