//! What the host's integration tests share: a store that waits at a moment the test
//! chooses, a server on a runtime of its own, and a plain-socket HTTP GET.

// Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rulebox_api::{self as api, ApiOptions, AppState};
use rulebox_engine::Rulebox;
use rulebox_store::{Batch, Committed, Entries, KvStore, MemoryKv, StorageError};

/// Serves the API for `rulebox` on a loopback port, on a runtime with `workers` async
/// workers; the server runs until the runtime is dropped.
pub fn serve(
    rulebox: Rulebox,
    workers: usize,
) -> std::io::Result<(tokio::runtime::Runtime, SocketAddr)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let state = AppState::new(Arc::new(rulebox), None, ApiOptions::default());
    runtime.spawn(api::serve(listener, state, std::future::pending()));
    Ok((runtime, addr))
}

/// Sends a GET over a plain socket (no client runtime that a stalled server could hold
/// up); returns the status line and the body, or the error when no answer comes within
/// `timeout`.
pub fn get(
    addr: SocketAddr,
    path: &str,
    key: Option<&str>,
    timeout: Duration,
) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(timeout))?;
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    Ok((status, body))
}

/// A `MemoryKv` whose flushes, or reads of keys under a prefix, wait at a gate until the
/// test opens it, counting who waits.
pub struct GatedKv {
    inner: MemoryKv,
    gated: Gated,
    gate: Mutex<Gate>,
    changed: Condvar,
}

enum Gated {
    Flushes,
    Reads(Vec<u8>),
}

#[derive(Default)]
struct Gate {
    open: bool,
    /// Operations waiting for the gate to open.
    waiting: usize,
}

impl GatedKv {
    /// Flushes wait at the gate (open to begin with).
    pub fn flushes() -> Self {
        Self::new(Gated::Flushes)
    }

    /// Reads of keys starting with `prefix` wait at the gate (open to begin with).
    pub fn reads(prefix: &[u8]) -> Self {
        Self::new(Gated::Reads(prefix.to_vec()))
    }

    fn new(gated: Gated) -> Self {
        GatedKv {
            inner: MemoryKv::new(),
            gated,
            gate: Mutex::new(Gate {
                open: true,
                waiting: 0,
            }),
            changed: Condvar::new(),
        }
    }

    /// Waits until `n` operations are waiting at the gate, or `timeout`; returns how many are.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut gate = self.gate.lock().unwrap();
        while gate.waiting < n && Instant::now() < deadline {
            gate = self
                .changed
                .wait_timeout(gate, Duration::from_millis(50))
                .unwrap()
                .0;
        }
        gate.waiting
    }

    pub fn open(&self) {
        self.gate.lock().unwrap().open = true;
        self.changed.notify_all();
    }

    pub fn close(&self) {
        *self.gate.lock().unwrap() = Gate::default();
    }

    fn pass(&self) {
        let mut gate = self.gate.lock().unwrap();
        if !gate.open {
            gate.waiting += 1;
            self.changed.notify_all();
            while !gate.open {
                gate = self.changed.wait(gate).unwrap();
            }
        }
    }
}

impl KvStore for GatedKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Gated::Reads(prefix) = &self.gated
            && key.starts_with(prefix)
        {
            self.pass();
        }
        self.inner.get(key)
    }
    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Entries, StorageError> {
        self.inner.scan(prefix, after, limit)
    }
    fn commit(&self, batch: &Batch) -> Result<Committed, StorageError> {
        self.inner.commit(batch)
    }
    fn flush(&self) -> Result<(), StorageError> {
        if let Gated::Flushes = self.gated {
            self.pass();
        }
        Ok(())
    }
}
