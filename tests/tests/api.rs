//! The HTTP API end to end: the real server on 127.0.0.1 (port 0) over a temporary data
//! directory, driven over HTTP. Brands and keys, plugin deployment, events and repeats, a
//! hot swap under load, rollback, dry run, ledger paging, catalog, and the refusals: every
//! route against a missing key (401), another brand's key (404; 403 for admin routes) and a
//! key without the route's scope (403). Also body limits, malformed JSON and the OpenAPI
//! document's completeness.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

mod common;

use base64::Engine;
use common::{ADMIN, Answer, FLAT_EVENTS, FLAT_V1, FLAT_V2, Server, WELCOME, concrete};
use reqwest::Method;
use rulebox_api::{self as api, ApiOptions};
use rulebox_sdk::testing::{event, line, purchase, sign_up};
use rulebox_tests::plugin_wasm;
use serde_json::{Value, json};

/// 2026-03-15 09:30 in the brand's time zone (UTC+8).
const T0: i64 = 1_773_538_200_000;

fn purchase_event(brand: &str, id: &str, member: &str, order: &str, paid: i64) -> Value {
    let mut v = serde_json::to_value(event(
        id,
        member,
        T0,
        purchase(order, "s-1", vec![line("p-1", "tea", 1, paid)]),
    ))
    .unwrap();
    v["brand"] = brand.into();
    v
}

fn sign_up_event(brand: &str, id: &str, member: &str) -> Value {
    let mut v = serde_json::to_value(event(id, member, T0, sign_up("app"))).unwrap();
    v["brand"] = brand.into();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn brands_plugins_events_members_and_catalog_over_http() {
    let s = Server::start().await;
    let key = s.brand("tea").await;
    // A second brand with the same id is a conflict.
    let again = s
        .call(
            Method::POST,
            "/v1/brands",
            Some(ADMIN),
            Some(json!({ "id": "tea" })),
        )
        .await;
    assert_eq!(
        (again.status, again.body["error"]["code"].as_str()),
        (409, Some("brand-exists"))
    );

    let installed = s.deploy("tea", &key, &WELCOME, true).await;
    assert_eq!(installed["activation"]["active"], "0.1.0");

    // Catalog.
    let stores = json!([{ "id": "s-1", "name": "People's Square", "city": "Shanghai", "location": { "lat": 31.23, "lon": 121.47 } }]);
    s.ok(
        Method::PUT,
        "/v1/brands/tea/stores",
        &key,
        Some(stores),
        200,
    )
    .await;
    let products = json!([{ "id": "p-1", "name": "Oolong", "category": "tea", "price": 1800, "sales_rank": 1, "day_parts": [] }]);
    let put = s
        .ok(
            Method::PUT,
            "/v1/brands/tea/products",
            &key,
            Some(products),
            200,
        )
        .await;
    assert_eq!(put["count"], 1);
    s.ok(
        Method::PUT,
        "/v1/brands/tea/stock",
        &key,
        Some(json!([{ "store_id": "s-1", "product_id": "p-1", "quantity": 7 }])),
        200,
    )
    .await;
    let stores = s
        .ok(Method::GET, "/v1/brands/tea/stores", &key, None, 200)
        .await;
    assert_eq!(stores["items"][0]["id"], "s-1");
    let stock = s
        .ok(
            Method::GET,
            "/v1/brands/tea/stores/s-1/stock",
            &key,
            None,
            200,
        )
        .await;
    assert_eq!(stock["items"][0]["quantity"], 7);
    let missing = s
        .call(
            Method::GET,
            "/v1/brands/tea/stores/s-9/stock",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        (missing.status, missing.body["error"]["code"].as_str()),
        (404, Some("unknown-store"))
    );
    s.ok(Method::GET, "/v1/brands/tea/products", &key, None, 200)
        .await;

    // A sign-up: 201; its repeat: 200 with the stored outcome and duplicate: true.
    let first = s
        .ok(
            Method::POST,
            "/v1/brands/tea/events",
            &key,
            Some(sign_up_event("tea", "e-1", "m-1")),
            201,
        )
        .await;
    assert_eq!(first["duplicate"], false);
    assert_eq!(first["members"][0]["points"], 100);
    let repeat = s
        .ok(
            Method::POST,
            "/v1/brands/tea/events",
            &key,
            Some(sign_up_event("tea", "e-1", "m-1")),
            200,
        )
        .await;
    assert_eq!(repeat["duplicate"], true);
    assert_eq!(repeat["effects"], first["effects"]);
    // The path's brand must be the event's.
    let wrong = s
        .call(
            Method::POST,
            "/v1/brands/tea/events",
            Some(&key),
            Some(sign_up_event("coffee", "e-2", "m-2")),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.body["error"]["code"].as_str()),
        (400, Some("brand-mismatch"))
    );
    // Unknown member: 404 with a message that says what to do.
    let unknown = s
        .call(
            Method::POST,
            "/v1/brands/tea/events",
            Some(&key),
            Some(purchase_event("tea", "e-3", "m-404", "o-0", 100)),
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sign-up")
    );

    // Dry run changes nothing.
    let dry = s
        .ok(
            Method::POST,
            "/v1/brands/tea/events:dry-run",
            &key,
            Some(sign_up_event("tea", "e-9", "m-9")),
            200,
        )
        .await;
    assert_eq!(dry["dry_run"], true);
    let absent = s
        .call(Method::GET, "/v1/brands/tea/members/m-9", Some(&key), None)
        .await;
    assert_eq!(
        (absent.status, absent.body["error"]["code"].as_str()),
        (404, Some("unknown-member"))
    );

    // Purchases through flat-points, as a batch (one item fails: unknown member).
    s.deploy("tea", &key, &FLAT_V1, true).await;
    let mut batch: Vec<Value> = (0..5)
        .map(|i| purchase_event("tea", &format!("p-{i}"), "m-1", &format!("o-{i}"), 1000))
        .collect();
    batch.push(purchase_event("tea", "p-x", "m-nobody", "o-x", 1000));
    batch.push(purchase_event("tea", "p-0", "m-1", "o-0", 1000));
    let answer = s
        .ok(
            Method::POST,
            "/v1/brands/tea/events:batch",
            &key,
            Some(Value::Array(batch)),
            200,
        )
        .await;
    let statuses: Vec<u64> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![201, 201, 201, 201, 201, 404, 200]);
    assert_eq!(answer["items"][5]["error"]["code"], "unknown-member");
    assert_eq!(answer["items"][6]["outcome"]["duplicate"], true);

    // Members: profile update, record, coupons, ledger pages.
    let member = s
        .ok(
            Method::PUT,
            "/v1/brands/tea/members/m-1",
            &key,
            Some(json!({ "city": "Shanghai" })),
            200,
        )
        .await;
    assert_eq!(
        (member["city"].as_str(), member["points"].as_i64()),
        (Some("Shanghai"), Some(150))
    );
    let mismatch = s
        .call(
            Method::PUT,
            "/v1/brands/tea/members/m-1",
            Some(&key),
            Some(json!({ "id": "m-2" })),
        )
        .await;
    assert_eq!(mismatch.body["error"]["code"], "id-mismatch");
    s.ok(
        Method::GET,
        "/v1/brands/tea/members/m-1/coupons",
        &key,
        None,
        200,
    )
    .await;
    let mut seen = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let path = match after {
            Some(a) => format!("/v1/brands/tea/members/m-1/ledger?limit=2&after={a}"),
            None => "/v1/brands/tea/members/m-1/ledger?limit=2".to_owned(),
        };
        let page = s.ok(Method::GET, &path, &key, None, 200).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|e| e["seq"].as_u64().unwrap()));
        match page["next_after"].as_u64() {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        (0..6).collect::<Vec<u64>>(),
        "six entries, each once, in order"
    );
    let bad = s
        .call(
            Method::GET,
            "/v1/brands/tea/members/m-1/ledger?limit=0",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(bad.body["error"]["code"], "invalid-query");

    // Queries: no plugin answers coupon questions here, so no answers.
    let q = json!({ "member_id": "m-1", "at": T0, "cart": { "store_id": "s-1", "lines": [] } });
    let answers = s
        .ok(
            Method::POST,
            "/v1/brands/tea/queries/coupons",
            &key,
            Some(q),
            200,
        )
        .await;
    assert_eq!(answers["answers"], json!([]));
    let q = json!({ "member_id": "m-1", "at": T0, "place": { "location": { "lat": 31.2, "lon": 121.4 }, "limit": 3 } });
    s.ok(
        Method::POST,
        "/v1/brands/tea/queries/recommendations",
        &key,
        Some(q),
        200,
    )
    .await;

    // Plugin lifecycle: v2, activate, remove-active refused, rollback, disable, remove.
    s.deploy("tea", &key, &FLAT_V2, false).await;
    let conflict = s.call(Method::POST, "/v1/brands/tea/plugins", Some(&key), Some(json!({
        "manifest": { "brand": "tea", "name": "flat-points", "version": "2.0.0", "events": FLAT_EVENTS },
        "wasm_base64": base64::engine::general_purpose::STANDARD.encode(plugin_wasm("flat-points-v1")),
    }))).await;
    assert_eq!(
        conflict.status, 400,
        "v1's component under 2.0.0 disagrees with its manifest: {}",
        conflict.body
    );
    s.ok(
        Method::POST,
        "/v1/brands/tea/plugins/flat-points/versions/2.0.0:activate",
        &key,
        None,
        200,
    )
    .await;
    let active = s
        .call(
            Method::DELETE,
            "/v1/brands/tea/plugins/flat-points/versions/2.0.0",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        (active.status, active.body["error"]["code"].as_str()),
        (409, Some("version-active"))
    );
    let back = s
        .ok(
            Method::POST,
            "/v1/brands/tea/plugins/flat-points:rollback",
            &key,
            None,
            200,
        )
        .await;
    assert_eq!(back["active"], "1.0.0");
    let list = s
        .ok(Method::GET, "/v1/brands/tea/plugins", &key, None, 200)
        .await;
    let flat = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "flat-points")
        .unwrap();
    assert_eq!(
        (
            flat["active"].as_str(),
            flat["versions"].as_array().unwrap().len()
        ),
        (Some("1.0.0"), 2)
    );
    s.ok(
        Method::DELETE,
        "/v1/brands/tea/plugins/flat-points/versions/2.0.0",
        &key,
        None,
        204,
    )
    .await;
    let off = s
        .ok(
            Method::POST,
            "/v1/brands/tea/plugins/flat-points:disable",
            &key,
            None,
            200,
        )
        .await;
    assert_eq!(off["active"], Value::Null);
    let none = s
        .call(
            Method::POST,
            "/v1/brands/tea/plugins/nothing:rollback",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(none.body["error"]["code"], "unknown-plugin");
    let odd = s
        .call(
            Method::POST,
            "/v1/brands/tea/plugins/flat-points:explode",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        (odd.status, odd.body["error"]["code"].as_str()),
        (404, Some("no-such-route"))
    );

    // Dead letters: none; replaying an unknown one is 404.
    let letters = s
        .ok(Method::GET, "/v1/brands/tea/dead-letters", &key, None, 200)
        .await;
    assert_eq!(letters["items"], json!([]));
    let replay = s
        .call(
            Method::POST,
            "/v1/brands/tea/dead-letters/e-404:replay",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(replay.body["error"]["code"], "unknown-dead-letter");

    // Operations.
    assert_eq!(
        s.call(Method::GET, "/v1/health", None, None).await.status,
        200
    );
    assert_eq!(
        s.call(Method::GET, "/v1/ready", None, None).await.status,
        200
    );
    let metrics = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("rulebox_events_total{result=\"applied\"} 6"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rulebox_events_total{result=\"duplicate\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("rulebox_http_requests_total{route=\"/v1/brands/{brand}/events\",method=\"POST\",status=\"201\"}"), "{metrics}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_swap_under_load_loses_and_repeats_nothing() {
    let s = Arc::new(Server::start().await);
    let key = s.brand("tea").await;
    s.ok(
        Method::PUT,
        "/v1/brands/tea/members/m-1",
        &key,
        Some(json!({})),
        200,
    )
    .await;
    s.deploy("tea", &key, &FLAT_V1, true).await;
    s.deploy("tea", &key, &FLAT_V2, false).await;

    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (s, key, done, stop) = (s.clone(), key.clone(), done.clone(), stop.clone());
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let event =
                    purchase_event("tea", &format!("e-{i}"), "m-1", &format!("o-{i}"), 1000);
                let answer = s
                    .call(
                        Method::POST,
                        "/v1/brands/tea/events",
                        Some(&key),
                        Some(event),
                    )
                    .await;
                assert_eq!(
                    answer.status, 201,
                    "purchase {i} failed during the swap: {}",
                    answer.body
                );
                outcomes.push(answer.body);
                i += 1;
                done.fetch_add(1, Ordering::SeqCst);
            }
            outcomes
        })
    };
    let wait_for = |n: usize| {
        let done = done.clone();
        async move {
            while done.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    wait_for(15).await;
    s.ok(
        Method::POST,
        "/v1/brands/tea/plugins/flat-points/versions/2.0.0:activate",
        &key,
        None,
        200,
    )
    .await;
    let swapped_at = done.load(Ordering::SeqCst);
    wait_for(swapped_at + 15).await;
    s.ok(
        Method::POST,
        "/v1/brands/tea/plugins/flat-points:rollback",
        &key,
        None,
        200,
    )
    .await;
    let rolled_at = done.load(Ordering::SeqCst);
    wait_for(rolled_at + 15).await;
    stop.store(true, Ordering::SeqCst);
    let outcomes = client.await.unwrap();

    let mut per_version: BTreeMap<String, usize> = BTreeMap::new();
    let mut expected_points = 0;
    for outcome in &outcomes {
        let versions: BTreeSet<&str> = outcome["effects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["version"].as_str().unwrap())
            .collect();
        assert_eq!(versions.len(), 1, "one version per event: {outcome}");
        let version = versions.into_iter().next().unwrap().to_owned();
        let points = outcome["effects"][0]["effect"]["AwardPoints"]["amount"]
            .as_i64()
            .unwrap();
        assert_eq!(
            points,
            if version == "1.0.0" { 10 } else { 20 },
            "{outcome}"
        );
        expected_points += points;
        *per_version.entry(version).or_default() += 1;
    }
    assert!(
        per_version.get("2.0.0").is_some_and(|n| *n > 0),
        "v2 ran: {per_version:?}"
    );
    assert!(
        per_version.get("1.0.0").is_some_and(|n| *n > 0),
        "v1 ran: {per_version:?}"
    );

    // Repeats change nothing and return the stored outcomes.
    for (i, outcome) in outcomes.iter().enumerate().step_by(7) {
        let event = purchase_event("tea", &format!("e-{i}"), "m-1", &format!("o-{i}"), 1000);
        let again = s
            .ok(
                Method::POST,
                "/v1/brands/tea/events",
                &key,
                Some(event),
                200,
            )
            .await;
        assert_eq!(
            (again["duplicate"].as_bool(), &again["effects"]),
            (Some(true), &outcome["effects"])
        );
    }
    // Every event is in the ledger exactly once, and the balance is their sum.
    let ledger = s
        .ok(
            Method::GET,
            "/v1/brands/tea/members/m-1/ledger?limit=1000",
            &key,
            None,
            200,
        )
        .await;
    let events: Vec<&str> = ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    let distinct: BTreeSet<&&str> = events.iter().collect();
    assert_eq!(
        (events.len(), distinct.len()),
        (outcomes.len(), outcomes.len())
    );
    let member = s
        .ok(Method::GET, "/v1/brands/tea/members/m-1", &key, None, 200)
        .await;
    assert_eq!(member["points"], expected_points);
    Arc::try_unwrap(s).ok().unwrap().stop().await;
}

/// A concrete path for a documented one.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_refuses_missing_keys_other_brands_and_missing_scopes() {
    let s = Server::start().await;
    let tea = s.brand("tea").await;
    let coffee = s.brand("coffee").await;
    let without: BTreeMap<&str, String> = BTreeMap::from([
        ("events", s.key("tea", &["plugins", "members"]).await),
        ("plugins", s.key("tea", &["events", "members"]).await),
        ("members", s.key("tea", &["events", "plugins"]).await),
    ]);
    let doc = s.ok(Method::GET, "/v1/openapi.json", &tea, None, 200).await;
    let mut checked = 0;
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let url = concrete(path, "tea");
            let body = matches!(method, Method::POST | Method::PUT).then(|| json!({}));
            let code = |a: &Answer| a.body["error"]["code"].as_str().unwrap_or("").to_owned();
            let Some(scope) = operation["x-rulebox-scope"].as_str() else {
                let open = s.call(method.clone(), &url, None, None).await;
                assert_eq!(open.status, 200, "{method} {url} is public");
                checked += 1;
                continue;
            };
            let none = s.call(method.clone(), &url, None, body.clone()).await;
            assert_eq!(
                (none.status, code(&none).as_str()),
                (401, "missing-api-key"),
                "{method} {url} without a key"
            );
            let bad = s
                .call(method.clone(), &url, Some("rbx_0000"), body.clone())
                .await;
            assert_eq!(bad.status, 401, "{method} {url} with a bad key");
            let other = s
                .call(method.clone(), &url, Some(&coffee), body.clone())
                .await;
            let unknown = s
                .call(
                    method.clone(),
                    &concrete(path, "nope"),
                    Some(&tea),
                    body.clone(),
                )
                .await;
            if scope == "admin" {
                assert_eq!(other.status, 403, "{method} {url} with a brand key");
            } else {
                assert_eq!(
                    (other.status, code(&other).as_str()),
                    (404, "not-found"),
                    "{method} {url} with another brand's key"
                );
                assert_eq!(
                    unknown.body,
                    json!({ "error": { "code": "not-found", "message": "no brand nope is visible to this key; check the brand id in the path", "request_id": unknown.request_id.clone().unwrap() } }),
                    "an unknown brand looks the same as another's"
                );
                let wrong = s
                    .call(method.clone(), &url, Some(&without[scope]), body.clone())
                    .await;
                assert_eq!(
                    (wrong.status, code(&wrong).as_str()),
                    (403, "forbidden"),
                    "{method} {url} without scope {scope}"
                );
                let admin = s
                    .call(method.clone(), &url, Some(ADMIN), body.clone())
                    .await;
                assert_eq!(admin.status, 403, "{method} {url} with the admin key");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, api::routes().len(), "every route checked");
    // Nothing of tea was touched by all that.
    let stores = s
        .ok(Method::GET, "/v1/brands/tea/stores", &tea, None, 200)
        .await;
    assert_eq!(stores["items"], json!([]));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_exactly_the_routes_served() {
    let s = Server::start().await;
    let doc = s
        .call(Method::GET, "/v1/openapi.json", None, None)
        .await
        .body;
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = api::routes()
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, served);
    for required in [
        ("POST", "/v1/brands/{brand}/events"),
        ("POST", "/v1/brands/{brand}/events:batch"),
        ("POST", "/v1/brands/{brand}/events:dry-run"),
        ("POST", "/v1/brands/{brand}/queries/coupons"),
        ("POST", "/v1/brands/{brand}/queries/recommendations"),
        ("PUT", "/v1/brands/{brand}/members/{id}"),
        ("GET", "/v1/brands/{brand}/members/{id}"),
        ("GET", "/v1/brands/{brand}/members/{id}/ledger"),
        ("GET", "/v1/brands/{brand}/members/{id}/coupons"),
        ("PUT", "/v1/brands/{brand}/stores"),
        ("GET", "/v1/brands/{brand}/stores"),
        ("PUT", "/v1/brands/{brand}/products"),
        ("GET", "/v1/brands/{brand}/products"),
        ("PUT", "/v1/brands/{brand}/stock"),
        ("GET", "/v1/brands/{brand}/stores/{store}/stock"),
        ("POST", "/v1/brands/{brand}/plugins"),
        ("GET", "/v1/brands/{brand}/plugins"),
        (
            "POST",
            "/v1/brands/{brand}/plugins/{name}/versions/{version}:activate",
        ),
        ("POST", "/v1/brands/{brand}/plugins/{name}:rollback"),
        ("POST", "/v1/brands/{brand}/plugins/{name}:disable"),
        (
            "DELETE",
            "/v1/brands/{brand}/plugins/{name}/versions/{version}",
        ),
        ("GET", "/v1/brands/{brand}/dead-letters"),
        ("POST", "/v1/brands/{brand}/dead-letters/{event_id}:replay"),
        ("POST", "/v1/brands"),
        ("POST", "/v1/brands/{brand}/keys"),
        ("GET", "/v1/health"),
        ("GET", "/v1/ready"),
        ("GET", "/metrics"),
        ("GET", "/v1/openapi.json"),
    ] {
        assert!(
            served.contains(&(required.0.to_owned(), required.1.to_owned())),
            "{required:?} is served"
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_malformed_bodies_and_request_ids() {
    let s = Server::start().await;
    let key = s.brand("tea").await;
    // Oversized: 413 in the API's error shape.
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(1 << 20));
    let answer = s
        .raw(
            Method::POST,
            "/v1/brands/tea/events",
            Some(&key),
            Some(big.into_bytes()),
        )
        .await;
    assert_eq!(
        (answer.status, answer.body["error"]["code"].as_str()),
        (413, Some("body-too-large"))
    );
    // Malformed JSON: 400 saying where.
    let answer = s
        .raw(
            Method::POST,
            "/v1/brands/tea/events",
            Some(&key),
            Some(b"{\"id\": ".to_vec()),
        )
        .await;
    assert_eq!(
        (answer.status, answer.body["error"]["code"].as_str()),
        (400, Some("malformed-json"))
    );
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 1"),
        "{}",
        answer.body
    );
    // Well-formed but the wrong shape: 400 naming the field.
    let answer = s
        .call(
            Method::POST,
            "/v1/brands/tea/events",
            Some(&key),
            Some(json!({ "id": "e-1" })),
        )
        .await;
    assert_eq!(
        (answer.status, answer.body["error"]["code"].as_str()),
        (400, Some("invalid-body"))
    );
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing field"),
        "{}",
        answer.body
    );
    // Every answer carries a request id, the same as in the error body; a caller's is kept.
    let answer = s.call(Method::GET, "/v1/nowhere", None, None).await;
    assert_eq!(
        (answer.status, answer.body["error"]["code"].as_str()),
        (404, Some("no-such-route"))
    );
    assert_eq!(
        answer.request_id.as_deref(),
        answer.body["error"]["request_id"].as_str()
    );
    let answer = s.call(Method::DELETE, "/v1/health", None, None).await;
    assert_eq!(
        (answer.status, answer.body["error"]["code"].as_str()),
        (405, Some("method-not-allowed"))
    );
    assert!(answer.request_id.is_some());
    let response = s
        .client
        .get(format!("{}/v1/health", s.base))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-42");
    // Keys: bad scopes are refused; unknown brands are 404.
    let bad = s
        .call(
            Method::POST,
            "/v1/brands/tea/keys",
            Some(ADMIN),
            Some(json!({ "scopes": ["root"] })),
        )
        .await;
    assert_eq!(bad.status, 400);
    let bad = s
        .call(
            Method::POST,
            "/v1/brands/tea/keys",
            Some(ADMIN),
            Some(json!({ "scopes": [] })),
        )
        .await;
    assert_eq!(bad.body["error"]["code"], "invalid-scopes");
    let nope = s
        .call(
            Method::POST,
            "/v1/brands/nope/keys",
            Some(ADMIN),
            Some(json!({ "scopes": ["events"] })),
        )
        .await;
    assert_eq!(nope.status, 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_event_is_422_goes_to_dead_letters_and_replays() {
    let s = Server::start().await;
    let key = s.brand("tea").await;
    s.ok(
        Method::PUT,
        "/v1/brands/tea/members/m-1",
        &key,
        Some(json!({})),
        200,
    )
    .await;
    let upload = |mode: &str| {
        json!({
            "manifest": { "brand": "tea", "name": "hostile", "version": "0.1.0",
                          "events": ["Purchase", "SignUp", "CheckIn"], "config": { "mode": mode } },
            "wasm_base64": base64::engine::general_purpose::STANDARD.encode(plugin_wasm("hostile")),
            "activate": true,
        })
    };
    s.ok(
        Method::POST,
        "/v1/brands/tea/plugins",
        &key,
        Some(upload("rule-error")),
        201,
    )
    .await;
    let event = purchase_event("tea", "e-1", "m-1", "o-1", 1000);
    let aborted = s
        .call(
            Method::POST,
            "/v1/brands/tea/events",
            Some(&key),
            Some(event),
        )
        .await;
    assert_eq!(aborted.status, 422, "{}", aborted.body);
    assert_eq!(aborted.body["error"]["code"], "event-aborted");
    assert_eq!(
        aborted.body["error"]["details"]["failure"]["plugin"],
        "hostile"
    );
    let letters = s
        .ok(Method::GET, "/v1/brands/tea/dead-letters", &key, None, 200)
        .await;
    assert_eq!(letters["items"][0]["event"]["id"], "e-1");
    // The same version with another configuration is a conflict: bump the version.
    let conflict = s
        .call(
            Method::POST,
            "/v1/brands/tea/plugins",
            Some(&key),
            Some(upload("ok")),
        )
        .await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.body["error"]["code"], "version-exists");
    // With the plugin disabled, the replay applies the event.
    s.ok(
        Method::POST,
        "/v1/brands/tea/plugins/hostile:disable",
        &key,
        None,
        200,
    )
    .await;
    let replayed = s
        .ok(
            Method::POST,
            "/v1/brands/tea/dead-letters/e-1:replay",
            &key,
            None,
            200,
        )
        .await;
    assert_eq!(
        (
            replayed["event_id"].as_str(),
            replayed["duplicate"].as_bool()
        ),
        (Some("e-1"), Some(false))
    );
    let letters = s
        .ok(Method::GET, "/v1/brands/tea/dead-letters", &key, None, 200)
        .await;
    assert_eq!(letters["items"], json!([]));
    let metrics = s.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(metrics.status, 200);
    let text = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("rulebox_plugin_failures_total{outcome=\"aborted\"} 1"),
        "{text}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_finishes_the_requests_in_flight() {
    let server = Server::start().await;
    let key = server.brand("tea").await;
    server.deploy("tea", &key, &WELCOME, true).await;
    // Big enough to be still running when the shutdown comes: every event is a durable
    // commit with a plugin call.
    let events: Vec<Value> = (0..1000)
        .map(|i| sign_up_event("tea", &format!("e-{i}"), &format!("m-{i}")))
        .collect();
    let request = server
        .client
        .post(format!("{}/v1/brands/tea/events:batch", server.base))
        .bearer_auth(&key)
        .json(&events)
        .send();
    let in_flight = tokio::spawn(async move {
        let response = request.await.expect("the batch is answered, not cut off");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        (status, body, std::time::Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let base = server.base.clone();
    let stop_sent = std::time::Instant::now();
    server.stop().await;
    let (status, body, answered) = in_flight.await.unwrap();
    assert!(
        answered > stop_sent,
        "the batch finished before the shutdown began; make it bigger"
    );
    assert_eq!(status, 200);
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1000);
    assert!(
        items.iter().all(|i| i["status"] == 201),
        "every event of the batch was applied"
    );
    // And the server is gone: new connections are refused.
    assert!(
        reqwest::get(format!("{base}/v1/health")).await.is_err(),
        "the server still answers after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_are_listed_without_secrets_and_revoked_at_once() {
    let server = Server::start().await;
    let key = server.brand("tea").await;
    let other = server.brand("coffee").await;
    let reader = server.key("tea", &["members"]).await;
    server
        .ok(
            Method::PUT,
            "/v1/brands/tea/members/m-1",
            &reader,
            Some(json!({})),
            200,
        )
        .await;

    let listed = server
        .ok(Method::GET, "/v1/brands/tea/keys", ADMIN, None, 200)
        .await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        2,
        "the two keys of tea, not coffee's: {listed}"
    );
    assert!(
        !listed.to_string().contains(&reader[4..20]),
        "no secret in the list"
    );
    let reader_id = items
        .iter()
        .find(|k| k["scopes"] == json!(["members"]))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A brand's key id does not revoke under another brand's path.
    let answer = server
        .call(
            Method::DELETE,
            &format!("/v1/brands/coffee/keys/{reader_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(
        (answer.status, answer.body["error"]["code"].as_str()),
        (404, Some("unknown-key"))
    );
    // Brand keys cannot manage keys.
    let answer = server
        .call(Method::GET, "/v1/brands/tea/keys", Some(&key), None)
        .await;
    assert_eq!(answer.status, 403);

    server
        .ok(
            Method::DELETE,
            &format!("/v1/brands/tea/keys/{reader_id}"),
            ADMIN,
            None,
            204,
        )
        .await;
    let answer = server
        .call(
            Method::GET,
            "/v1/brands/tea/members/m-1",
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(answer.status, 401, "a revoked key stops working at once");
    let listed = server
        .ok(Method::GET, "/v1/brands/tea/keys", ADMIN, None, 200)
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    // The other keys still work.
    server
        .ok(Method::GET, "/v1/brands/tea/members/m-1", &key, None, 200)
        .await;
    server
        .ok(Method::GET, "/v1/brands/coffee/stores", &other, None, 200)
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_are_imported_in_bulk_with_opening_balances() {
    let server = Server::start().await;
    let key = server.brand("tea").await;
    let members: Vec<Value> = (0..1000)
        .map(|i| json!({ "id": format!("m-{i}"), "tier": "green", "opening_points": i }))
        .collect();
    let answer = server.put_members("tea", &key, json!(members)).await;
    assert_eq!(answer["count"], 1000);
    let member = server
        .ok(Method::GET, "/v1/brands/tea/members/m-250", &key, None, 200)
        .await;
    assert_eq!(member["points"], 250);
    let ledger = server
        .ok(
            Method::GET,
            "/v1/brands/tea/members/m-250/ledger",
            &key,
            None,
            200,
        )
        .await;
    assert_eq!(
        ledger["items"][0]["amount"], 250,
        "the opening balance is a ledger entry"
    );

    // Importing again keeps points (no second opening award) and updates the profile.
    let again = json!([{ "id": "m-250", "tier": "gold", "opening_points": 999 }]);
    server.put_members("tea", &key, again).await;
    let member = server
        .ok(Method::GET, "/v1/brands/tea/members/m-250", &key, None, 200)
        .await;
    assert_eq!(
        (member["points"].as_i64(), member["tier"].as_str()),
        (Some(250), Some("gold"))
    );

    // Tags are added once and can be taken off.
    server
        .ok(
            Method::PUT,
            "/v1/brands/tea/members/m-7",
            &key,
            Some(json!({"tags": ["vip", "tea-lover"]})),
            200,
        )
        .await;
    let member = server
        .ok(
            Method::PUT,
            "/v1/brands/tea/members/m-7",
            &key,
            Some(json!({"tags": ["vip", "student"], "remove_tags": ["tea-lover"]})),
            200,
        )
        .await;
    assert_eq!(member["tags"], json!(["student", "vip"]));

    // Too many at once, or one without an id: refused whole, nothing written.
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({ "id": format!("x-{i}") }))
        .collect();
    let answer = server
        .call(
            Method::PUT,
            "/v1/brands/tea/members",
            Some(&key),
            Some(json!(too_many)),
        )
        .await;
    assert_eq!(
        (answer.status, answer.body["error"]["code"].as_str()),
        (400, Some("batch-too-large"))
    );
    let answer = server
        .call(
            Method::PUT,
            "/v1/brands/tea/members",
            Some(&key),
            Some(json!([{ "id": "y-1" }, { "tier": "gold" }])),
        )
        .await;
    assert_eq!(
        (answer.status, answer.body["error"]["code"].as_str()),
        (400, Some("missing-id"))
    );
    let answer = server
        .call(Method::GET, "/v1/brands/tea/members/y-1", Some(&key), None)
        .await;
    assert_eq!(answer.status, 404);
    server.stop().await;
}

/// Every `$ref` string under `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_carries_json_schemas_of_the_bodies() {
    let server = Server::start().await;
    let doc = server
        .call(Method::GET, "/v1/openapi.json", None, None)
        .await
        .body;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(
        all.len() > 30,
        "bodies are described by reference: {}",
        all.len()
    );
    for r in &all {
        let mut target = &doc;
        for part in r
            .strip_prefix("#/")
            .unwrap_or_else(|| panic!("{r} is not local"))
            .split('/')
        {
            target = &target[part];
        }
        assert!(!target.is_null(), "{r} does not resolve");
    }
    // Every route that takes a body documents it; the actions without one do not.
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let body = &operation["requestBody"]["content"]["application/json"]["schema"];
            let bodiless = path.ends_with(":activate")
                || path.ends_with(":rollback")
                || path.ends_with(":disable")
                || path.contains("dead-letters/");
            let takes_body = matches!(method.as_str(), "post" | "put") && !bodiless;
            assert_eq!(!body.is_null(), takes_body, "{method} {path}: {body}");
        }
    }
    // The event schema knows the event kinds and the money fields' integer type.
    let event = serde_json::to_string(&schemas["Event"]).unwrap();
    let kinds = serde_json::to_string(&schemas["EventKind"]).unwrap();
    assert!(
        event.contains("occurred_at") && kinds.contains("Purchase"),
        "{event} {kinds}"
    );
    let purchase = &schemas["Purchase"]["properties"];
    assert_eq!(purchase["paid"]["type"], "integer", "{purchase}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_get_a_clear_4xx_and_change_nothing() {
    let server = Server::start().await;
    let key = server.brand("tea").await;
    server.deploy("tea", &key, &WELCOME, true).await;
    let path = "/v1/brands/tea/events";
    let good = sign_up_event("tea", "e-1", "m-1");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "invalid UTF-8",
            b"{\"id\": \"\xff\xfe\"}".to_vec(),
            "malformed-json",
        ),
        (
            "deep nesting",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            "invalid-body",
        ),
        (
            "number past i64",
            good.to_string()
                .replace("1773538200000", "99999999999999999999")
                .into_bytes(),
            "invalid-body",
        ),
        (
            "unknown top-level field",
            {
                let mut e = good.clone();
                e["points"] = 1_000_000.into();
                e.to_string().into_bytes()
            },
            "unknown-field",
        ),
        (
            "unknown nested field",
            {
                let mut e = good.clone();
                e["kind"]["SignUp"]["bonus"] = 500.into();
                e.to_string().into_bytes()
            },
            "unknown-field",
        ),
        (
            "trailing garbage",
            format!("{good} {{}}").into_bytes(),
            "malformed-json",
        ),
        ("empty body", Vec::new(), "malformed-json"),
    ];
    for (what, body, code) in cases {
        let answer = server.raw(Method::POST, path, Some(&key), Some(body)).await;
        assert_eq!(
            (answer.status, answer.body["error"]["code"].as_str()),
            (400, Some(code)),
            "{what}: {}",
            answer.body
        );
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("; "),
            "{what}: the message says what to do: {message}"
        );
    }
    // Deep nesting where any JSON is taken (a plugin's config): the parser's depth limit.
    let deep = format!(
        r#"{{"manifest": {{"brand": "tea", "name": "x", "version": "1", "config": {}{}}}, "wasm_base64": ""}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let answer = server
        .raw(
            Method::POST,
            "/v1/brands/tea/plugins",
            Some(&key),
            Some(deep.into_bytes()),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("recursion limit"),
        "{}",
        answer.body
    );
    // The unknown field is named, so the caller can fix it.
    let mut e = good.clone();
    e["kind"]["SignUp"]["bonus"] = 500.into();
    let answer = server.call(Method::POST, path, Some(&key), Some(e)).await;
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(".bonus"),
        "{}",
        answer.body
    );
    // Nothing of it was applied: the member does not exist; the good event still works.
    let answer = server
        .call(Method::GET, "/v1/brands/tea/members/m-1", Some(&key), None)
        .await;
    assert_eq!(answer.status, 404);
    server.ok(Method::POST, path, &key, Some(good), 201).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_clients_are_cut_off_and_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start_with(ApiOptions {
        header_timeout: Duration::from_secs(1),
        max_connections: 8,
        ..ApiOptions::default()
    })
    .await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    // Eight connections trickling headers: as many as the server takes at once.
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(b"POST /v1/brands/tea/events HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    let started = std::time::Instant::now();
    // Each is closed by the server once the header deadline passes.
    for mut stream in slow {
        let mut buf = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
        assert!(
            read.is_ok(),
            "a trickling client was still connected after 10 s"
        );
    }
    let cut_after = started.elapsed();
    assert!(
        cut_after < Duration::from_secs(5),
        "cut off after {cut_after:?}"
    );
    // The server took the slots back and answers as before.
    let answer = server.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(answer.status, 200);
    server.stop().await;
}
