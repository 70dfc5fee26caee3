//! Access (issue 7, item 5): every route of `rulebox_api::routes()` refuses a missing
//! key, a malformed `Authorization` header, a well-formed key that does not exist, a revoked
//! key, another brand's key and a key without the route's scope, each with the documented
//! status and code; and no key ever appears in the server's logs or in an answer other than
//! the one that created it.
//!
//! `api.rs` (`every_route_refuses_missing_keys_other_brands_and_missing_scopes`) walks the
//! OpenAPI document with the common cases; this file adds the malformed and unknown keys,
//! the codes on admin routes, and the logs.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use common::{ADMIN, Answer, Server, concrete};
use reqwest::Method;
use reqwest::header::HeaderValue;
use rulebox_api as api;
use rulebox_engine::auth::Scope;
use serde_json::json;

/// Everything every `tracing` event of this process wrote, at every level.
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "trace,cranelift_codegen=info,wasmtime=info,wasmtime_cranelift=info,regalloc2=info",
            ))
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        buffer
    })
}

/// A writer appending to the shared log buffer.
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap()
}

/// Asserts `(status, code)` of an answer, and that it is the API's error shape.
fn refused(answer: &Answer, status: u16, code: &str, what: &str) {
    assert_eq!(
        (answer.status, answer.code()),
        (status, code),
        "{what}: {}",
        answer.text
    );
    assert!(
        answer.body["error"]["request_id"].is_string(),
        "{what}: {}",
        answer.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_refuses_every_kind_of_bad_key_and_no_key_is_ever_logged() {
    let logs = logs();
    let s = Server::start().await;
    let tea = s.brand("tea").await;
    let coffee = s.brand("coffee").await;
    let lacking: BTreeMap<&str, String> = BTreeMap::from([
        ("events", s.key("tea", &["plugins", "members"]).await),
        ("plugins", s.key("tea", &["events", "members"]).await),
        ("members", s.key("tea", &["events", "plugins"]).await),
    ]);
    // A key that worked, then was revoked.
    let created = s
        .ok(
            Method::POST,
            "/v1/brands/tea/keys",
            ADMIN,
            Some(json!({ "scopes": ["events", "members", "plugins"], "label": "to revoke" })),
            201,
        )
        .await;
    let revoked = created["key"].as_str().unwrap().to_owned();
    let revoked_id = created["id"].as_str().unwrap().to_owned();
    s.ok(Method::GET, "/v1/brands/tea/stores", &revoked, None, 200)
        .await;
    let answer = s
        .call(
            Method::DELETE,
            &format!("/v1/brands/tea/keys/{revoked_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    // Well-formed, but never issued.
    let unknown = format!("rbx_{}", "0123456789abcdef".repeat(4));
    // The admin key with its last character changed.
    let almost_admin = format!("{}X", &ADMIN[..ADMIN.len() - 1]);

    let malformed: Vec<(&str, HeaderValue)> = vec![
        ("a Basic header", header("Basic dXNlcjpwYXNzd29yZA==")),
        ("the scheme alone", header("Bearer")),
        ("an empty bearer token", header("Bearer    ")),
        ("the key without a scheme", header(&tea)),
        ("another scheme", header(&format!("Token {tea}"))),
        ("a doubled scheme", header(&format!("Bearer Bearer {tea}"))),
        (
            "two keys",
            header(&format!("Bearer {tea}, Bearer {coffee}")),
        ),
        (
            "bytes that are not text",
            HeaderValue::from_bytes(b"Bearer rbx_\xff\xfe").unwrap(),
        ),
    ];
    let invalid_keys = [
        ("an unknown key", unknown.as_str()),
        ("a revoked key", revoked.as_str()),
        ("a near miss of the admin key", almost_admin.as_str()),
        ("a short key", "rbx_0000"),
    ];

    let mut answers: Vec<Answer> = Vec::new();
    let mut checked = 0;
    for route in api::routes() {
        let method: Method = route.method.parse().unwrap();
        let url = concrete(route.path, "tea");
        let what = |case: &str| format!("{} {url} with {case}", route.method);
        let body = matches!(method, Method::POST | Method::PUT).then(|| b"{}".to_vec());
        let Some(scope) = route.scope else {
            let open = s.send(method.clone(), &url, None, None).await;
            assert_eq!(open.status, 200, "{}", what("no key (public)"));
            continue;
        };

        let none = s.send(method.clone(), &url, None, body.clone()).await;
        refused(&none, 401, "missing-api-key", &what("no key"));
        answers.push(none);
        for (case, value) in &malformed {
            let answer = s
                .send(method.clone(), &url, Some(value.clone()), body.clone())
                .await;
            refused(&answer, 401, "invalid-api-key", &what(case));
            answers.push(answer);
        }
        for (case, key) in invalid_keys {
            let answer = s
                .send(
                    method.clone(),
                    &url,
                    Some(header(&format!("Bearer {key}"))),
                    body.clone(),
                )
                .await;
            refused(&answer, 401, "invalid-api-key", &what(case));
            answers.push(answer);
        }
        let bearer = |key: &str| Some(header(&format!("Bearer {key}")));
        if scope == Scope::Admin {
            // Brand keys, of this brand or another, with any scopes, are not admin keys.
            for (case, key) in [
                ("another brand's key", coffee.as_str()),
                ("this brand's key with every scope", tea.as_str()),
                ("a key without events", lacking["events"].as_str()),
            ] {
                let answer = s
                    .send(method.clone(), &url, bearer(key), body.clone())
                    .await;
                refused(&answer, 403, "forbidden", &what(case));
                answers.push(answer);
            }
        } else {
            let other = s
                .send(method.clone(), &url, bearer(&coffee), body.clone())
                .await;
            refused(&other, 404, "not-found", &what("another brand's key"));
            let wrong_scope = s
                .send(
                    method.clone(),
                    &url,
                    bearer(&lacking[scope.as_str()]),
                    body.clone(),
                )
                .await;
            refused(
                &wrong_scope,
                403,
                "forbidden",
                &what(&format!("a key without {}", scope.as_str())),
            );
            let admin = s
                .send(method.clone(), &url, bearer(ADMIN), body.clone())
                .await;
            refused(&admin, 403, "forbidden", &what("the admin key"));
            answers.extend([other, wrong_scope, admin]);
        }
        checked += 1;
    }
    assert_eq!(
        checked,
        api::routes().iter().filter(|r| r.scope.is_some()).count()
    );
    assert!(checked >= 25, "only {checked} routes need a key?");

    // The valid keys still work (the refusals above were not a broken server), and events
    // carrying them go through the whole pipeline, logs and all.
    s.ok(Method::GET, "/v1/brands/tea/stores", &tea, None, 200)
        .await;
    s.ok(Method::GET, "/v1/brands/coffee/plugins", &coffee, None, 200)
        .await;
    s.ok(
        Method::PUT,
        "/v1/brands/tea/members/m-1",
        &tea,
        Some(json!({ "id": "m-1" })),
        200,
    )
    .await;
    s.ok(
        Method::GET,
        "/v1/brands/tea/members/m-1",
        &lacking["events"],
        None,
        200,
    )
    .await;

    let secrets: Vec<&str> = [tea.as_str(), coffee.as_str(), revoked.as_str(), ADMIN]
        .into_iter()
        .chain(lacking.values().map(String::as_str))
        .chain([unknown.as_str(), almost_admin.as_str()])
        .collect();
    for answer in &answers {
        for secret in &secrets {
            assert!(
                !answer.text.contains(secret),
                "an answer repeats a key: {}",
                answer.text
            );
        }
    }
    s.stop().await;

    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let requests = logged.lines().filter(|l| l.contains(" request ")).count();
    assert!(
        requests >= answers.len(),
        "the log holds {requests} request lines for {} requests:\n{}",
        answers.len(),
        &logged[..logged.len().min(2000)]
    );
    assert!(
        logged.contains(&revoked_id),
        "key ids are logged (a key's creation and revocation)"
    );
    for secret in &secrets {
        // The key, and its random part alone.
        let random = secret.strip_prefix("rbx_").unwrap_or(secret);
        for needle in [*secret, random] {
            if let Some(line) = logged.lines().find(|l| l.contains(needle)) {
                panic!("a key appears in the server's log: {line}");
            }
        }
    }
}
