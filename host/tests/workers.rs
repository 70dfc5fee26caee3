//! A request whose storage read waits (sled's reads wait while a commit holds its lock,
//! tens of milliseconds under load) holds up no other connection: the API reads storage on
//! the blocking pool, never on the async workers that serve every connection.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use common::GatedKv;
use rulebox_host::Rulebox;
use rulebox_host::api::{self, ApiOptions, AppState};
use rulebox_host::auth::{self, Scope};
use rulebox_host::demo::data::{self, BRAND};
use rulebox_host::sandbox::SandboxConfig;

/// Sends a GET over a plain socket (no client runtime that a stalled server could hold
/// up) and returns the status line, or the error when no answer comes within `timeout`.
fn get(
    addr: SocketAddr,
    path: &str,
    key: Option<&str>,
    timeout: Duration,
) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(timeout))?;
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.lines().next().unwrap_or_default().to_owned())
}

#[test]
fn a_request_waiting_for_storage_does_not_stall_the_others() -> anyhow::Result<()> {
    let kv = Arc::new(GatedKv::reads(b"\0apikey\0"));
    let rb = Rulebox::with_storage(kv.clone(), SandboxConfig::default())?;
    let demo = data::generate(7, 3);
    rb.put_brand(&demo.brand)?;
    rb.put_members(BRAND, demo.members)?;
    let key = auth::create_key(rb.db(), Some(BRAND), &[Scope::Members], "test", 0)?.key;

    // One async worker: were it to wait in a read, nothing would be left to answer.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let state = AppState::new(Arc::new(rb), None, ApiOptions::default());
    runtime.spawn(api::serve(listener, state, std::future::pending()));

    kv.close();
    let member = format!("/v1/brands/{BRAND}/members/m-00001");
    let slow = std::thread::spawn({
        let key = key.clone();
        move || get(addr, &member, Some(&key), Duration::from_secs(60))
    });
    assert_eq!(
        kv.wait_for(1, Duration::from_secs(20)),
        1,
        "the request's key is read"
    );
    let meanwhile = get(addr, "/v1/health", None, Duration::from_secs(10));
    kv.open();
    let meanwhile = meanwhile
        .map_err(|e| anyhow::anyhow!("no answer while another request waited for storage: {e}"))?;
    assert_eq!(meanwhile, "HTTP/1.1 200 OK");
    assert_eq!(
        slow.join().unwrap()?,
        "HTTP/1.1 200 OK",
        "the waiting request is answered once storage is"
    );
    Ok(())
}
