//! A request whose storage read waits (sled's reads wait while a commit holds its lock,
//! tens of milliseconds under load) holds up no other connection: the API reads storage on
//! the blocking pool, never on the async workers that serve every connection.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::GatedKv;
use rulebox_cli::demo::data::{self, BRAND};
use rulebox_engine::Rulebox;
use rulebox_engine::auth::{self, Scope};
use rulebox_sandbox::SandboxConfig;

#[test]
fn a_request_waiting_for_storage_does_not_stall_the_others() -> anyhow::Result<()> {
    let kv = Arc::new(GatedKv::reads(b"\0apikey\0"));
    let rb = Rulebox::with_storage(kv.clone(), SandboxConfig::default())?;
    let demo = data::generate(7, 3);
    rb.put_brand(&demo.brand)?;
    rb.put_members(BRAND, demo.members)?;
    let key = auth::create_key(rb.db(), Some(BRAND), &[Scope::Members], "test", 0)?.key;

    // One async worker: were it to wait in a read, nothing would be left to answer.
    let (_server, addr) = common::serve(rb, 1)?;

    kv.close();
    let member = format!("/v1/brands/{BRAND}/members/m-00001");
    let slow = std::thread::spawn({
        let key = key.clone();
        move || common::get(addr, &member, Some(&key), Duration::from_secs(60))
    });
    assert_eq!(
        kv.wait_for(1, Duration::from_secs(20)),
        1,
        "the request's key is read"
    );
    let meanwhile = common::get(addr, "/v1/health", None, Duration::from_secs(10));
    kv.open();
    let meanwhile = meanwhile
        .map_err(|e| anyhow::anyhow!("no answer while another request waited for storage: {e}"))?;
    assert_eq!(meanwhile.0, "HTTP/1.1 200 OK");
    assert_eq!(
        slow.join().unwrap()?.0,
        "HTTP/1.1 200 OK",
        "the waiting request is answered once storage is"
    );
    Ok(())
}
