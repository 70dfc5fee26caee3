//! Native tests through `rulebox_sdk::testing`.

use std::cell::RefCell;
use std::collections::BTreeMap;

use rulebox_sdk::testing::{FakeHost, FakeStore, Fixture, member};
use rulebox_sdk::time::HOUR_MS;
use rulebox_sdk::{
    Attribute, Cart, DayPart, Host, LogLevel, MemberView, Place, StockLevel, StoreInfo,
};
use serde_json::{Value, json};

use super::*;

/// 2026-03-15T01:30:00Z: 09:30 in Shanghai (breakfast).
const T: Timestamp = 1_773_538_200_000;
/// 10:30 in Shanghai, the first instant of lunch.
const LUNCH: Timestamp = T + HOUR_MS;
/// Where the member stands: People's Square, Shanghai.
const HERE: GeoPoint = GeoPoint {
    lat: 31.2304,
    lon: 121.4737,
};

/// A point `north_m` metres north of [`HERE`] (one degree of latitude ≈ 111.2 km).
fn north(north_m: f64) -> GeoPoint {
    GeoPoint {
        lat: HERE.lat + north_m / 111_195.0,
        lon: HERE.lon,
    }
}

fn store(id: &str, name: &str, north_m: f64, open: bool) -> FakeStore {
    FakeStore {
        id: id.to_owned(),
        name: name.to_owned(),
        city: "Shanghai".to_owned(),
        location: north(north_m),
        open,
    }
}

fn product(id: &str, category: &str, sales_rank: u32, day_parts: &[DayPart]) -> Product {
    Product {
        id: id.to_owned(),
        name: format!("Product {id}"),
        category: category.to_owned(),
        price: 2900,
        sales_rank,
        day_parts: day_parts.to_vec(),
    }
}

fn query(at: Timestamp, limit: u32) -> Query {
    Query {
        brand: "demo-tea".to_owned(),
        member_id: "m-1".to_owned(),
        at,
        kind: QueryKind::Recommendation(Place {
            location: HERE,
            limit,
        }),
    }
}

fn ask(host: &FakeHost, at: Timestamp, limit: u32) -> RecommendationAnswer {
    match host.on_query::<RecommendNearby>(&query(at, limit)) {
        Ok(Answer::Recommendation(answer)) => answer,
        other => panic!("expected a recommendation, got {other:?}"),
    }
}

fn ids(answer: &RecommendationAnswer) -> Vec<&str> {
    answer.items.iter().map(|i| i.product_id.as_str()).collect()
}

/// One open store 200 m away with three products in stock.
fn one_store() -> FakeHost {
    FakeHost::new(member("m-1"))
        .with_store(store("s-1", "People's Square", 200.0, true))
        .with_product(product("p-1", "fruit-tea", 1, &[DayPart::AfternoonTea]))
        .with_product(product("p-2", "milk-tea", 2, &[DayPart::Breakfast]))
        .with_product(product("p-3", "coffee", 3, &[DayPart::Lunch]))
        .with_stock("s-1", "p-1", 40)
        .with_stock("s-1", "p-2", 40)
        .with_stock("s-1", "p-3", 40)
}

fn error(host: &FakeHost) -> RuleError {
    host.on_query::<RecommendNearby>(&query(T, 3))
        .expect_err("expected a rule error")
}

// ----- describe ---------------------------------------------------------------------------

#[test]
fn describe_declares_the_query_and_the_member_fields() {
    let d = RecommendNearby::describe();
    assert_eq!(d.name, "recommend-nearby");
    assert_eq!(d.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(d.queries, vec![QueryType::Recommendation]);
    assert!(d.events.is_empty());
    assert_eq!(d.reads, vec![MemberField::History, MemberField::Tags]);
}

// ----- choosing the store -----------------------------------------------------------------

#[test]
fn no_store_in_range_gives_no_items_and_a_note() {
    let host = one_store()
        .with_config(json!({"radius_m": 150}))
        .with_store(store("s-far", "Far Away", 5_000.0, true));
    let answer = ask(&host, T, 3);
    assert!(answer.items.is_empty());
    assert_eq!(answer.notes, vec!["no open store within 150 m"]);

    let answer = ask(&FakeHost::new(member("m-1")), T, 3);
    assert!(answer.items.is_empty());
    assert_eq!(answer.notes, vec!["no open store within 3000 m"]);
}

#[test]
fn only_closed_stores_in_range_is_no_open_store() {
    let host = FakeHost::new(member("m-1"))
        .with_store(store("s-1", "People's Square", 200.0, false))
        .with_product(product("p-1", "fruit-tea", 1, &[]))
        .with_stock("s-1", "p-1", 40);
    let answer = ask(&host, T, 3);
    assert!(answer.items.is_empty());
    assert_eq!(answer.notes, vec!["no open store within 3000 m"]);
}

#[test]
fn nearest_store_closed_means_the_next_open_one() {
    let host = FakeHost::new(member("m-1"))
        .with_store(store("s-1", "People's Square", 100.0, false))
        .with_store(store("s-2", "Xintiandi", 850.0, true))
        .with_product(product("p-1", "fruit-tea", 1, &[]))
        .with_stock("s-1", "p-1", 40)
        .with_stock("s-2", "p-1", 40);
    let answer = ask(&host, T, 3);
    assert_eq!(ids(&answer), vec!["p-1"]);
    assert_eq!(answer.items[0].store_id, "s-2");
    assert_eq!(
        answer.notes,
        vec!["People's Square is closed now; showing Xintiandi, 850 m away"]
    );
}

#[test]
fn nearest_store_out_of_stock_means_the_next_store_with_a_note() {
    let host = FakeHost::new(member("m-1"))
        .with_store(store("s-1", "People's Square", 100.0, true))
        .with_store(store("s-2", "Xintiandi", 850.0, true))
        .with_product(product("p-1", "fruit-tea", 1, &[]))
        .with_stock("s-1", "p-1", 0)
        // In stock, but not in the catalog: does not count.
        .with_stock("s-1", "p-gone", 99)
        .with_stock("s-2", "p-1", 12);
    let answer = ask(&host, T, 3);
    assert_eq!(ids(&answer), vec!["p-1"]);
    assert_eq!(answer.items[0].store_id, "s-2");
    assert_eq!(
        answer.notes,
        vec!["People's Square is out of stock; showing Xintiandi, 850 m away"]
    );
}

#[test]
fn passed_over_stores_are_named_in_order() {
    let host = FakeHost::new(member("m-1"))
        .with_store(store("s-1", "People's Square", 100.0, false))
        .with_store(store("s-2", "Nanjing Road", 400.0, true))
        .with_store(store("s-3", "", 900.0, true))
        .with_product(product("p-1", "fruit-tea", 1, &[]))
        .with_stock("s-3", "p-1", 12);
    let answer = ask(&host, T, 3);
    assert_eq!(answer.items[0].store_id, "s-3");
    assert_eq!(
        answer.notes,
        vec![
            "People's Square is closed now; Nanjing Road is out of stock; showing s-3, 900 m away"
        ]
    );
}

#[test]
fn every_open_store_sold_out_gives_no_items_and_a_note() {
    let host = FakeHost::new(member("m-1"))
        .with_store(store("s-1", "People's Square", 100.0, true))
        .with_store(store("s-2", "Xintiandi", 850.0, true))
        .with_product(product("p-1", "fruit-tea", 1, &[]))
        .with_stock("s-1", "p-1", 0);
    let answer = ask(&host, T, 3);
    assert!(answer.items.is_empty());
    assert_eq!(
        answer.notes,
        vec!["no open store within 3000 m has anything in stock"]
    );
}

#[test]
fn max_stores_bounds_the_stores_looked_at() {
    let host = FakeHost::new(member("m-1"))
        .with_config(json!({"max_stores": 1}))
        .with_store(store("s-1", "People's Square", 100.0, true))
        .with_store(store("s-2", "Xintiandi", 850.0, true))
        .with_product(product("p-1", "fruit-tea", 1, &[]))
        .with_stock("s-2", "p-1", 12);
    let answer = ask(&host, T, 3);
    assert!(answer.items.is_empty());
    assert_eq!(
        answer.notes,
        vec!["no open store within 3000 m has anything in stock"]
    );
}

#[test]
fn empty_catalog_is_said() {
    let host =
        FakeHost::new(member("m-1")).with_store(store("s-1", "People's Square", 100.0, true));
    let answer = ask(&host, T, 3);
    assert!(answer.items.is_empty());
    assert_eq!(answer.notes, vec!["there is nothing in the catalog yet"]);
}

// ----- what is recommended ----------------------------------------------------------------

#[test]
fn zero_stock_products_are_never_recommended() {
    let host = one_store()
        .with_product(product("p-0", "fruit-tea", 1, &[DayPart::Breakfast]))
        .with_stock("s-1", "p-0", 0)
        .with_product(product("p-never", "fruit-tea", 1, &[DayPart::Breakfast]));
    let answer = ask(&host, T, 0);
    assert_eq!(answer.items.len(), 3);
    assert!(
        answer
            .items
            .iter()
            .all(|i| i.product_id != "p-0" && i.product_id != "p-never")
    );
}

#[test]
fn default_scores_and_reasons_are_exact() {
    let host = FakeHost::new(
        member("m-1")
            .with_favourite("p-9", "fruit-tea", 6, 0)
            .with_tags(["fruit-lover"]),
    )
    .with_config(json!({"tag_categories": {"fruit-lover": ["fruit-tea"]}}))
    .with_store(store("s-1", "People's Square", 200.0, true))
    .with_product(product("p-1", "fruit-tea", 1, &[DayPart::Breakfast]))
    .with_product(product("p-2", "milk-tea", 4, &[]))
    .with_stock("s-1", "p-1", 30)
    .with_stock("s-1", "p-2", 17);
    let answer = ask(&host, T, 3);
    // p-1: 40×1 + 25×1 + 20×1 + 10×½ (category) + 5×1 = 95.
    // p-2: 40×¼ + 25×(12/25 = 0.48) = 10 + 12 = 22.
    assert_eq!(
        answer.items,
        vec![
            Recommendation {
                product_id: "p-1".into(),
                store_id: "s-1".into(),
                score: 95.0,
                reason: "best seller #1, plenty in stock, good for breakfast, you often buy \
                         fruit tea, matches your taste for fruit tea"
                    .into(),
            },
            Recommendation {
                product_id: "p-2".into(),
                store_id: "s-1".into(),
                score: 22.0,
                reason: "#4 in sales".into(),
            },
        ]
    );
    assert!(answer.notes.is_empty());
}

#[test]
fn plenty_of_stock_ranks_above_scarce_stock() {
    // Same rank and day parts: stock alone decides.
    let host = FakeHost::new(member("m-1"))
        .with_store(store("s-1", "People's Square", 200.0, true))
        .with_product(product("p-a", "fruit-tea", 1, &[]))
        .with_product(product("p-b", "fruit-tea", 1, &[]))
        .with_product(product("p-c", "fruit-tea", 1, &[]))
        .with_product(product("p-d", "fruit-tea", 1, &[]))
        .with_stock("s-1", "p-a", 4) // scarce
        .with_stock("s-1", "p-b", 30) // plenty, exactly
        .with_stock("s-1", "p-c", 10) // in between: 5/25 = 0.2
        .with_stock("s-1", "p-d", 5); // low_stock, exactly: 0, but not scarce
    let answer = ask(&host, T, 0);
    assert_eq!(ids(&answer), vec!["p-b", "p-c", "p-a", "p-d"]);
    let scores: Vec<f64> = answer.items.iter().map(|i| i.score).collect();
    assert_eq!(scores, vec![65.0, 45.0, 40.0, 40.0]);
    assert_eq!(answer.items[0].reason, "best seller #1, plenty in stock");
    assert_eq!(answer.items[2].reason, "best seller #1, only 4 left");
    assert_eq!(answer.items[3].reason, "best seller #1");
}

#[test]
fn day_part_switches_at_10_30_local() {
    let host = FakeHost::new(member("m-1"))
        .with_config(json!({"weights": {"sales_rank": 0, "stock": 0, "day_part": 1, "history": 0, "tags": 0}}))
        .with_store(store("s-1", "People's Square", 200.0, true))
        .with_product(product("p-breakfast", "set", 1, &[DayPart::Breakfast]))
        .with_product(product("p-lunch", "set", 1, &[DayPart::Lunch]))
        .with_stock("s-1", "p-breakfast", 40)
        .with_stock("s-1", "p-lunch", 40);

    let before = ask(&host, LUNCH - 1, 0);
    assert_eq!(ids(&before), vec!["p-breakfast", "p-lunch"]);
    assert_eq!(before.items[0].score, 1.0);
    assert_eq!(before.items[0].reason, "good for breakfast");
    assert_eq!(before.items[1].score, 0.0);
    assert_eq!(before.items[1].reason, "in stock nearby");

    let at = ask(&host, LUNCH, 0);
    assert_eq!(ids(&at), vec!["p-lunch", "p-breakfast"]);
    assert_eq!(at.items[0].reason, "good for lunch");
}

#[test]
fn day_part_follows_the_configured_time_zone() {
    // 09:30 in Shanghai is 10:30 an hour further east.
    let host = FakeHost::new(member("m-1"))
        .with_config(json!({"utc_offset_minutes": 540}))
        .with_store(store("s-1", "People's Square", 200.0, true))
        .with_product(product("p-lunch", "set", 1, &[DayPart::Lunch]))
        .with_stock("s-1", "p-lunch", 40);
    assert!(ask(&host, T, 0).items[0].reason.contains("good for lunch"));
}

#[test]
fn favourites_lift_the_product_and_its_category() {
    let world = |m: MemberView| {
        FakeHost::new(m)
            .with_store(store("s-1", "People's Square", 200.0, true))
            .with_product(product("p-a", "milk-tea", 1, &[]))
            .with_product(product("p-b", "fruit-tea", 1, &[]))
            .with_product(product("p-c", "fruit-tea", 1, &[]))
            .with_stock("s-1", "p-a", 40)
            .with_stock("s-1", "p-b", 40)
            .with_stock("s-1", "p-c", 40)
    };
    // No history: a tie, by id.
    assert_eq!(
        ids(&ask(&world(member("m-1")), T, 0)),
        vec!["p-a", "p-b", "p-c"]
    );

    let fan = member("m-1")
        .with_favourite("p-c", "fruit-tea", 8, 0)
        .with_favourite("p-a", "milk-tea", 2, 0);
    let answer = ask(&world(fan), T, 0);
    assert_eq!(ids(&answer), vec!["p-c", "p-b", "p-a"]);
    // p-c: own 8/8 = 1; p-b: ½ × 8/8 = 0.5 by category; p-a: max(2/8, ½ × 2/8) = 0.25.
    let scores: Vec<f64> = answer.items.iter().map(|i| i.score).collect();
    assert_eq!(scores, vec![75.0, 70.0, 67.5]);
    assert_eq!(
        answer.items[0].reason,
        "best seller #1, plenty in stock, one of your favourites"
    );
    assert_eq!(
        answer.items[1].reason,
        "best seller #1, plenty in stock, you often buy fruit tea"
    );
}

#[test]
fn member_tags_lift_favoured_categories() {
    let world = |m: MemberView| {
        FakeHost::new(m)
            .with_config(
                json!({"tag_categories": {"fruit-lover": ["fruit-tea"], "night-owl": ["coffee"]}}),
            )
            .with_store(store("s-1", "People's Square", 200.0, true))
            .with_product(product("p-a", "milk-tea", 1, &[]))
            .with_product(product("p-b", "fruit-tea", 1, &[]))
            .with_stock("s-1", "p-a", 40)
            .with_stock("s-1", "p-b", 40)
    };
    assert_eq!(ids(&ask(&world(member("m-1")), T, 0)), vec!["p-a", "p-b"]);
    let answer = ask(&world(member("m-1").with_tags(["fruit-lover"])), T, 0);
    assert_eq!(ids(&answer), vec!["p-b", "p-a"]);
    assert_eq!(answer.items[0].score, 70.0);
    assert!(
        answer.items[0]
            .reason
            .ends_with("matches your taste for fruit tea")
    );
    // A tag the configuration does not map does nothing.
    let other = ask(&world(member("m-1").with_tags(["high-value"])), T, 0);
    assert_eq!(ids(&other), vec!["p-a", "p-b"]);
}

#[test]
fn equal_scores_are_ordered_by_product_id() {
    let host = FakeHost::new(member("m-1"))
        .with_store(store("s-1", "People's Square", 200.0, true))
        .with_product(product("p-c", "tea", 2, &[]))
        .with_product(product("p-b", "tea", 2, &[]))
        .with_product(product("p-a", "tea", 2, &[]))
        .with_stock("s-1", "p-c", 40)
        .with_stock("s-1", "p-a", 40)
        .with_stock("s-1", "p-b", 40);
    let answer = ask(&host, T, 0);
    assert_eq!(ids(&answer), vec!["p-a", "p-b", "p-c"]);
    assert!(
        answer
            .items
            .iter()
            .all(|i| i.score == answer.items[0].score)
    );
}

#[test]
fn limit_is_capped_by_max_items() {
    let mut host = FakeHost::new(member("m-1"))
        .with_config(json!({"max_items": 4}))
        .with_store(store("s-1", "People's Square", 200.0, true));
    for n in 1..=6 {
        let id = format!("p-{n}");
        host = host
            .with_product(product(&id, "tea", n, &[]))
            .with_stock("s-1", &id, 40);
    }
    assert_eq!(ids(&ask(&host, T, 2)), vec!["p-1", "p-2"]);
    assert_eq!(ask(&host, T, 4).items.len(), 4);
    assert_eq!(ask(&host, T, 50).items.len(), 4);
    assert_eq!(ask(&host, T, 0).items.len(), 4);
    // Default max_items is 10; fewer products than that are all returned.
    let host = host.with_config(json!({}));
    assert_eq!(ask(&host, T, 0).items.len(), 6);
    assert_eq!(ask(&host, T, 1).items.len(), 1);
}

#[test]
fn answers_are_deterministic() {
    let host = one_store().with_config(
        json!({"weights": {"sales_rank": 7, "stock": 3, "day_part": 11, "history": 0, "tags": 0}}),
    );
    let first = ask(&host, T, 0);
    assert_eq!(first, ask(&host, T, 0));
    // 7 × (1/3 → 0.333) = 2.331; scores stay exact to three decimals.
    let p3 = first.items.iter().find(|i| i.product_id == "p-3").unwrap();
    assert_eq!(p3.score, 5.331);
    assert_eq!(serde_json::to_string(&p3.score).unwrap(), "5.331");
}

// ----- configuration and input ------------------------------------------------------------

#[test]
fn invalid_configuration_names_the_key() {
    let cases: [(Value, &str); 8] = [
        (json!({"radius_m": 0}), "radius_m"),
        (json!({"max_stores": 0}), "max_stores"),
        (json!({"max_stores": 51}), "max_stores"),
        (json!({"max_items": 0}), "max_items"),
        (json!({"low_stock": 30}), "low_stock"),
        (json!({"low_stock": 40, "plenty_stock": 10}), "plenty_stock"),
        (
            json!({"weights": {"sales_rank": 0, "stock": 0, "day_part": 0, "history": 0, "tags": 0}}),
            "weights",
        ),
        (json!({"utc_offset_minutes": 1440}), "utc_offset_minutes"),
    ];
    for (config, key) in cases {
        match error(&one_store().with_config(config.clone())) {
            RuleError::InvalidConfig(m) => assert!(m.contains(key), "{config}: {m}"),
            other => panic!("{config}: {other:?}"),
        }
    }
    for (config, key) in [
        (json!({"radius": 100}), "radius"),
        (json!({"weights": {"rank": 1}}), "rank"),
        (json!({"radius_m": -1}), "-1"),
    ] {
        assert!(
            matches!(error(&one_store().with_config(config.clone())), RuleError::InvalidConfig(m) if m.contains(key)),
            "{config}"
        );
    }
}

#[test]
fn one_positive_weight_is_enough() {
    let host = one_store().with_config(
        json!({"weights": {"sales_rank": 0, "stock": 0, "day_part": 0, "history": 0}}),
    );
    let answer = ask(&host, T, 0);
    assert_eq!(ids(&answer), vec!["p-1", "p-2", "p-3"]);
    assert!(answer.items.iter().all(|i| i.score == 0.0));
}

#[test]
fn invalid_location_is_invalid_input() {
    let mut q = query(T, 3);
    q.kind = QueryKind::Recommendation(Place {
        location: GeoPoint {
            lat: 91.0,
            lon: 0.0,
        },
        limit: 3,
    });
    assert!(matches!(
        one_store().on_query::<RecommendNearby>(&q),
        Err(RuleError::InvalidInput(m)) if m.contains("latitude")
    ));
}

// ----- host calls -------------------------------------------------------------------------

/// A host that counts the calls a rule makes.
struct Counting {
    inner: FakeHost,
    calls: RefCell<BTreeMap<&'static str, u32>>,
}

impl Counting {
    fn new(inner: FakeHost) -> Self {
        Counting {
            inner,
            calls: RefCell::new(BTreeMap::new()),
        }
    }
    fn count(&self, name: &'static str) {
        *self.calls.borrow_mut().entry(name).or_default() += 1;
    }
    fn run(&self, q: &Query) -> Result<Answer, RuleError> {
        RecommendNearby::run_query(&Context::new(self), q)
    }
    fn calls(&self) -> BTreeMap<&'static str, u32> {
        self.calls.borrow().clone()
    }
}

impl Host for Counting {
    fn member(&self) -> MemberView {
        self.count("member");
        Host::member(&self.inner)
    }
    fn stores_near(&self, at: GeoPoint, radius_m: u32, limit: u32) -> Vec<StoreInfo> {
        self.count("stores_near");
        self.inner.stores_near(at, radius_m, limit)
    }
    fn stock(&self, store_id: &str, product_ids: &[String]) -> Vec<StockLevel> {
        self.count("stock");
        self.inner.stock(store_id, product_ids)
    }
    fn products(&self, ids: &[String]) -> Vec<Product> {
        self.count("products");
        self.inner.products(ids)
    }
    fn config(&self) -> String {
        self.count("config");
        self.inner.config()
    }
    fn seed(&self) -> u64 {
        self.count("seed");
        self.inner.seed()
    }
    fn log(&self, level: LogLevel, message: &str, fields: &[Attribute]) {
        self.count("log");
        self.inner.log(level, message, fields)
    }
}

#[test]
fn host_calls_are_few() {
    let host = Counting::new(
        FakeHost::new(member("m-1"))
            .with_store(store("s-0", "Closed", 50.0, false))
            .with_store(store("s-1", "People's Square", 100.0, true))
            .with_store(store("s-2", "Xintiandi", 850.0, true))
            .with_store(store("s-3", "Jing'an", 1500.0, true))
            .with_product(product("p-1", "fruit-tea", 1, &[]))
            .with_stock("s-2", "p-1", 12)
            .with_stock("s-3", "p-1", 12),
    );
    host.run(&query(T, 3)).unwrap();
    let expected: BTreeMap<&str, u32> = [
        ("config", 1),
        ("stores_near", 1),
        ("products", 1),
        ("stock", 2), // s-1 (sold out) and s-2; never the closed s-0 nor s-3
        ("member", 1),
    ]
    .into();
    assert_eq!(host.calls(), expected);
}

#[test]
fn member_and_catalog_are_not_read_when_not_needed() {
    // No weight on history or tags: the member is never read.
    let host =
        Counting::new(one_store().with_config(json!({"weights": {"history": 0, "tags": 0}})));
    host.run(&query(T, 3)).unwrap();
    assert_eq!(host.calls().get("member"), None);
    // Tags weigh, but no tag maps to a category: still not read.
    let host = Counting::new(one_store().with_config(json!({"weights": {"history": 0}})));
    host.run(&query(T, 3)).unwrap();
    assert_eq!(host.calls().get("member"), None);
    let host = Counting::new(one_store().with_config(
        json!({"weights": {"history": 0}, "tag_categories": {"fruit-lover": ["fruit-tea"]}}),
    ));
    host.run(&query(T, 3)).unwrap();
    assert_eq!(host.calls().get("member"), Some(&1));

    // No open store: neither catalog nor stock nor member.
    let host = Counting::new(FakeHost::new(member("m-1")));
    host.run(&query(T, 3)).unwrap();
    let expected: BTreeMap<&str, u32> = [("config", 1), ("stores_near", 1)].into();
    assert_eq!(host.calls(), expected);
}

#[test]
fn other_queries_are_unsupported() {
    let q = Query {
        kind: QueryKind::CouponEligibility(Cart {
            store_id: "s-1".into(),
            lines: vec![],
        }),
        ..query(T, 3)
    };
    let host = Counting::new(one_store());
    assert!(matches!(host.run(&q), Err(RuleError::Unsupported(_))));
    // The configuration is prepared before any handler runs; nothing else is read.
    let expected: BTreeMap<&str, u32> = [("config", 1)].into();
    assert_eq!(host.calls(), expected);
}

// ----- fixtures ---------------------------------------------------------------------------

#[test]
fn fixtures_pass_natively() {
    Fixture::check::<RecommendNearby>(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cases.json"));
}
