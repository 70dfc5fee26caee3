//! A storage watchdog: turns a storage engine that has stopped making progress into a
//! process exit the host recovers from, instead of requests that hang forever.
//!
//! Why: sled 0.34.7 can deadlock under write load. A writer that holds sled's segment lock
//! waits for a file truncation queued on sled's I/O thread pool while every pool thread
//! waits for that same lock (spacejam/sled#1412; reproduced here, see
//! docs/reliability.md). Nothing inside the process can undo that. Every acknowledged event
//! is already durable and recovery after a kill is tested (`host/tests/crash.rs`), so the
//! safe answer is to stop, loudly, and let the supervisor restart the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

/// How long storage may go without finishing any operation while one is under way before
/// the watchdog acts. A healthy sled commit or flush takes milliseconds; a minute leaves
/// room for a slow disk.
pub const STALL_LIMIT: Duration = Duration::from_secs(60);

/// What the watchdog does on a stall, given how long nothing finished.
pub type OnStall = Box<dyn Fn(Duration) + Send + 'static>;

/// Watches operations entered with [`Watchdog::enter`]: if some are under way and none has
/// finished for `limit`, it calls `on_stall` once. Stops when dropped.
pub struct Watchdog {
    progress: Arc<Progress>,
    _stop: mpsc::Sender<()>,
}

#[derive(Default)]
struct Progress {
    in_flight: AtomicUsize,
    finished: AtomicU64,
}

/// One operation under way; finishing it (dropping the guard) counts as progress.
pub struct Operation<'a>(&'a Progress);

impl Drop for Operation<'_> {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Watchdog {
    /// Starts the watching thread.
    pub fn start(name: &str, limit: Duration, on_stall: OnStall) -> std::io::Result<Self> {
        let progress = Arc::new(Progress::default());
        let (stop, stopped) = mpsc::channel::<()>();
        let watched = progress.clone();
        let tick = (limit / 8).clamp(Duration::from_millis(5), Duration::from_secs(1));
        thread::Builder::new().name(name.into()).spawn(move || {
            let (mut last, mut stalled) = (0, Duration::ZERO);
            // Woken every tick; the sender going away (the watchdog dropped) ends the loop.
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                let finished = watched.finished.load(Ordering::Relaxed);
                if finished != last || watched.in_flight.load(Ordering::Relaxed) == 0 {
                    (last, stalled) = (finished, Duration::ZERO);
                    continue;
                }
                stalled += tick;
                if stalled >= limit {
                    on_stall(stalled);
                    return;
                }
            }
        })?;
        Ok(Watchdog {
            progress,
            _stop: stop,
        })
    }

    /// Marks an operation as under way until the returned guard is dropped.
    pub fn enter(&self) -> Operation<'_> {
        self.progress.in_flight.fetch_add(1, Ordering::Relaxed);
        Operation(&self.progress)
    }
}

/// The production response to a stall: log it and abort the process (no unwinding: the
/// stuck threads hold locks), so the supervisor restarts it on the durable data.
pub fn abort_process() -> OnStall {
    Box::new(|stalled| {
        let message = format!(
            "storage has made no progress for {}s with operations waiting (a storage engine \
             deadlock or a hung disk); aborting so the server restarts. Acknowledged events \
             are durable; unacknowledged ones should be resent",
            stalled.as_secs()
        );
        tracing::error!("{message}");
        eprintln!("rulebox: {message}");
        std::process::abort();
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::Receiver;

    fn watch(limit: Duration) -> (Watchdog, Receiver<Duration>) {
        let (tx, rx) = mpsc::channel();
        let dog = Watchdog::start(
            "test-watchdog",
            limit,
            Box::new(move |d| {
                let _ = tx.send(d);
            }),
        )
        .unwrap();
        (dog, rx)
    }

    #[test]
    fn a_stuck_operation_trips_it_once() {
        let limit = Duration::from_millis(80);
        let (dog, fired) = watch(limit);
        let _stuck = dog.enter();
        let stalled = fired.recv_timeout(Duration::from_secs(5)).expect("fired");
        assert!(
            stalled >= limit,
            "fired after {stalled:?}, before the limit"
        );
        assert!(fired.recv_timeout(limit * 3).is_err(), "fired twice");
    }

    #[test]
    fn operations_that_keep_finishing_never_trip_it() {
        let limit = Duration::from_millis(500);
        let (dog, fired) = watch(limit);
        // One long-lived operation while others keep finishing: progress, not a stall.
        let _long = dog.enter();
        for _ in 0..200 {
            drop(dog.enter());
            thread::sleep(Duration::from_millis(10));
        }
        assert!(fired.try_recv().is_err());
    }

    #[test]
    fn idle_storage_never_trips_it() {
        let limit = Duration::from_millis(40);
        let (dog, fired) = watch(limit);
        drop(dog.enter());
        assert!(fired.recv_timeout(limit * 5).is_err());
        drop(dog);
    }
}
