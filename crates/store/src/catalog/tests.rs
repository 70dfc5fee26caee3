use std::sync::Arc;

use super::*;
use crate::{Batch, MemoryKv};
use rulebox_world::DayPart;

const BRAND: &str = "tea";
/// 2027-04-06 01:30 in Shanghai (UTC+8).
const AT_0130: Timestamp = 1_806_946_200_000;
/// 2027-04-06 09:00 in Shanghai.
const AT_0900: Timestamp = 1_806_973_200_000;

fn brand() -> Brand {
    Brand {
        id: BRAND.into(),
        utc_offset_minutes: 480,
        ..Brand::default()
    }
}

fn store(id: &str, lat: f64, opens: u16, closes: u16) -> Store {
    Store {
        id: id.into(),
        name: format!("store {id}"),
        city: "Shanghai".into(),
        location: GeoPoint { lat, lon: 121.47 },
        opens_at_minute: opens,
        closes_at_minute: closes,
    }
}

fn product(id: &str) -> Product {
    Product {
        id: id.into(),
        name: format!("product {id}"),
        category: "tea".into(),
        price: 1800,
        sales_rank: 1,
        day_parts: vec![DayPart::Breakfast],
    }
}

fn stock(store_id: &str, product_id: &str, quantity: u32) -> Stock {
    Stock {
        store_id: store_id.into(),
        product_id: product_id.into(),
        quantity,
    }
}

/// A database holding three stores (day hours, overnight, far away), three products and
/// stock, including a row for a store that does not exist.
fn db() -> Db {
    let db = Db::new(Arc::new(MemoryKv::new()));
    let mut batch = Batch::default();
    batch.put(Db::brand_key(BRAND), &brand());
    for s in [
        store("s-day", 31.23, 8 * 60, 22 * 60),
        store("s-night", 31.24, 20 * 60, 3 * 60),
        store("s-far", 32.5, 0, 24 * 60),
    ] {
        batch.put(Db::store_key(BRAND, &s.id), &s);
    }
    for p in [product("p-2"), product("p-1"), product("p-3")] {
        batch.put(Db::product_key(BRAND, &p.id), &p);
    }
    for s in [
        stock("s-day", "p-1", 40),
        stock("s-day", "p-2", 0),
        stock("s-night", "p-3", 7),
        stock("s-gone", "p-1", 99),
    ] {
        batch.put(Db::stock_key(BRAND, &s.store_id, &s.product_id), &s);
    }
    db.commit(&batch).unwrap();
    db
}

fn ids(stores: &[StoreInfo]) -> Vec<(&str, bool)> {
    stores.iter().map(|s| (s.id.as_str(), s.open_now)).collect()
}

#[test]
fn the_held_catalog_answers_as_the_database_does() {
    let db = db();
    let held = Catalog::load(&db, &brand(), 100)
        .unwrap()
        .expect("small enough to hold");
    let read = DbCatalog { db, brand: brand() };
    let here = GeoPoint {
        lat: 31.23,
        lon: 121.47,
    };
    let owned = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    // Opening hours in the brand's time zone, the overnight store open at 01:30 only.
    assert_eq!(
        ids(&held.stores_near(here, 5_000, 10, AT_0130)),
        [("s-day", false), ("s-night", true)]
    );
    assert_eq!(
        ids(&held.stores_near(here, 5_000, 10, AT_0900)),
        [("s-day", true), ("s-night", false)]
    );
    assert_eq!(ids(&held.stores_near(here, 500_000, 2, AT_0900)).len(), 2);
    // Stock: every stocked product in id order, asked products (unknown = 0), no store = none.
    assert_eq!(
        held.stock("s-day", &[])
            .iter()
            .map(|s| (s.product_id.as_str(), s.quantity))
            .collect::<Vec<_>>(),
        [("p-1", 40), ("p-2", 0)]
    );
    assert_eq!(
        held.stock("s-night", &owned(&["p-3", "p-9"]))
            .iter()
            .map(|s| s.quantity)
            .collect::<Vec<_>>(),
        [7, 0]
    );
    assert!(held.stock("s-gone", &[]).is_empty());
    // Products in id order, or as asked with unknown ids left out and repeats kept.
    assert_eq!(
        held.products(&[])
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        ["p-1", "p-2", "p-3"]
    );
    assert_eq!(held.products(&owned(&["p-3", "p-x", "p-3"])).len(), 2);

    for (at, radius, limit) in [
        (AT_0130, 5_000, 10),
        (AT_0900, 5_000, 10),
        (AT_0900, 500_000, 2),
        (AT_0900, 10, 10),
    ] {
        assert_eq!(
            held.stores_near(here, radius, limit, at),
            read.stores_near(here, radius, limit, at)
        );
    }
    for (store, asked) in [
        ("s-day", vec![]),
        ("s-night", owned(&["p-3", "p-9"])),
        ("s-gone", vec![]),
        ("s-none", owned(&["p-1"])),
    ] {
        assert_eq!(
            held.stock(store, &asked),
            read.stock(store, &asked),
            "{store}"
        );
    }
    for asked in [vec![], owned(&["p-3", "p-x", "p-3"])] {
        assert_eq!(held.products(&asked), read.products(&asked));
    }
}

#[test]
fn a_catalog_is_loaded_once_and_reloaded_after_a_change() {
    let db = db();
    let catalogs = Catalogs::default();
    let units = |data: &Arc<dyn BrandData>| data.stock("s-day", &["p-1".to_owned()])[0].quantity;
    let first = catalogs.get(&db, &brand());
    assert_eq!(units(&first), 40);

    let mut batch = Batch::default();
    batch.put(
        Db::stock_key(BRAND, "s-day", "p-1"),
        &stock("s-day", "p-1", 3),
    );
    db.commit(&batch).unwrap();
    // Held: the write is not seen until the brand's catalog is invalidated.
    assert!(Arc::ptr_eq(&first, &catalogs.get(&db, &brand())));
    catalogs.invalidate(BRAND);
    let second = catalogs.get(&db, &brand());
    assert!(!Arc::ptr_eq(&first, &second));
    assert_eq!(units(&second), 3);
    assert!(Arc::ptr_eq(&second, &catalogs.get(&db, &brand())));
}

#[test]
fn a_brand_with_too_much_stock_is_read_per_call() {
    let db = db();
    // Four stock rows: held with room for four, read per call with room for three.
    assert!(Catalog::load(&db, &brand(), 4).unwrap().is_some());
    assert!(Catalog::load(&db, &brand(), 3).unwrap().is_none());
    let catalogs = Catalogs::with_limit(3);
    let first = catalogs.get(&db, &brand());
    let mut batch = Batch::default();
    batch.put(
        Db::stock_key(BRAND, "s-day", "p-1"),
        &stock("s-day", "p-1", 5),
    );
    db.commit(&batch).unwrap();
    // Not held: the change shows at once, without an invalidation.
    assert_eq!(first.stock("s-day", &["p-1".to_owned()])[0].quantity, 5);
    assert!(!Arc::ptr_eq(&first, &catalogs.get(&db, &brand())));
}
