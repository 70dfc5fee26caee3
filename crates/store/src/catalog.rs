//! A brand's stores, stock and catalog as plugins read them through host imports
//! (`stores-near`, `stock`, `products`).
//!
//! Plugins read the catalog on every recommendation query, and reading it from the
//! database each time meant decoding every store and product record per call. So each
//! brand's catalog is held in memory ([`Catalog`]), loaded on first use and dropped
//! whenever the brand's stores, products, stock or time zone change ([`Catalogs`]). A
//! brand whose stock is too large to hold is read from the database per call
//! ([`DbCatalog`]), as before.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::model::{Brand, Stock, Store};
use super::{Db, StorageError};
use rulebox_world::BrandData;
use rulebox_world::{GeoPoint, Product, StockLevel, StoreInfo, Timestamp};

/// Most stock rows (store × product) a brand's catalog holds in memory, about 100 bytes
/// each; a brand with more is read from the database on every call.
pub const MAX_CACHED_STOCK_ROWS: usize = 250_000;

/// The local minute of the day at `now` in the brand's time zone.
fn minute_of_day(now: Timestamp, utc_offset_minutes: i32) -> u16 {
    rulebox_sdk::time::local(now, utc_offset_minutes)
        .map(|l| l.minute_of_day() as u16)
        .unwrap_or(0)
}

/// `store` as `stores-near` answers it for a member at `from` at local `minute`.
fn store_info(store: &Store, from: GeoPoint, minute: u16) -> StoreInfo {
    let sdk_point = |p: GeoPoint| rulebox_sdk::GeoPoint {
        lat: p.lat,
        lon: p.lon,
    };
    let open_now = if store.opens_at_minute <= store.closes_at_minute {
        (store.opens_at_minute..store.closes_at_minute).contains(&minute)
    } else {
        minute >= store.opens_at_minute || minute < store.closes_at_minute
    };
    StoreInfo {
        id: store.id.clone(),
        name: store.name.clone(),
        city: store.city.clone(),
        location: store.location,
        distance_m: rulebox_sdk::geo::distance_m(sdk_point(from), sdk_point(store.location)),
        open_now,
    }
}

/// One brand's stores, stock and catalog, in memory.
pub struct Catalog {
    utc_offset_minutes: i32,
    /// In id order, as the database lists them.
    stores: Vec<Store>,
    /// Units on hand by store, then product; every known store has an entry.
    stock: HashMap<String, BTreeMap<String, u32>>,
    /// In the order given (id order from the database).
    products: Vec<Product>,
    product_index: HashMap<String, usize>,
}

impl Catalog {
    /// A catalog of these stores, products and stock levels, for a brand `utc_offset_minutes`
    /// ahead of UTC. Stock of a store not among `stores` is left out (no store, no stock); of
    /// two products with one id, the first counts.
    pub fn new(
        utc_offset_minutes: i32,
        stores: Vec<Store>,
        products: Vec<Product>,
        stock: impl IntoIterator<Item = Stock>,
    ) -> Self {
        let mut levels: HashMap<String, BTreeMap<String, u32>> = stores
            .iter()
            .map(|s| (s.id.clone(), BTreeMap::new()))
            .collect();
        for s in stock {
            if let Some(store) = levels.get_mut(&s.store_id) {
                store.insert(s.product_id, s.quantity);
            }
        }
        let mut product_index = HashMap::with_capacity(products.len());
        for (i, p) in products.iter().enumerate() {
            product_index.entry(p.id.clone()).or_insert(i);
        }
        Catalog {
            utc_offset_minutes,
            stores,
            stock: levels,
            products,
            product_index,
        }
    }

    /// The brand's catalog from the database, or `None` if its stock has more than
    /// `max_stock_rows` rows.
    pub fn load(
        db: &Db,
        brand: &Brand,
        max_stock_rows: usize,
    ) -> Result<Option<Self>, StorageError> {
        let stock = db.brand_stock(&brand.id, max_stock_rows.saturating_add(1))?;
        if stock.len() > max_stock_rows {
            return Ok(None);
        }
        Ok(Some(Catalog::new(
            brand.utc_offset_minutes,
            db.stores(&brand.id)?,
            db.products(&brand.id)?,
            stock,
        )))
    }
}

impl BrandData for Catalog {
    fn stores_near(
        &self,
        at: GeoPoint,
        radius_m: u32,
        limit: u32,
        now: Timestamp,
    ) -> Vec<StoreInfo> {
        let minute = minute_of_day(now, self.utc_offset_minutes);
        let stores = self.stores.iter().map(|s| store_info(s, at, minute));
        StoreInfo::nearest_first(stores, radius_m, limit)
    }

    fn stock(&self, store_id: &str, product_ids: &[String]) -> Vec<StockLevel> {
        let Some(levels) = self.stock.get(store_id) else {
            return Vec::new();
        };
        let level = |(product_id, quantity): (&String, u32)| StockLevel {
            product_id: product_id.clone(),
            quantity,
        };
        if product_ids.is_empty() {
            return levels.iter().map(|(p, q)| level((p, *q))).collect();
        }
        product_ids
            .iter()
            .map(|p| level((p, levels.get(p).copied().unwrap_or(0))))
            .collect()
    }

    fn products(&self, ids: &[String]) -> Vec<Product> {
        if ids.is_empty() {
            return self.products.clone();
        }
        ids.iter()
            .filter_map(|id| self.product_index.get(id))
            .map(|&i| self.products[i].clone())
            .collect()
    }
}

/// The catalogs of the brands plugins have read, each loaded once and dropped when the
/// brand's catalog changes.
pub struct Catalogs {
    /// Brands with more stock rows than this are read from the database per call.
    max_stock_rows: usize,
    loaded: Mutex<HashMap<String, Arc<Catalog>>>,
    /// Bumped by every [`Catalogs::invalidate`]: a catalog loaded while a change was being
    /// written is used once but not kept, as it may predate the change.
    changes: AtomicU64,
}

impl Default for Catalogs {
    fn default() -> Self {
        Catalogs::with_limit(MAX_CACHED_STOCK_ROWS)
    }
}

impl Catalogs {
    /// Catalogs held for brands with at most `max_stock_rows` stock rows.
    pub fn with_limit(max_stock_rows: usize) -> Self {
        Catalogs {
            max_stock_rows,
            loaded: Mutex::default(),
            changes: AtomicU64::new(0),
        }
    }

    /// What plugins of `brand` read: its catalog in memory, loaded now if need be; read from
    /// the database per call if it is too large to hold or cannot be loaded (the fault is
    /// logged, and the next call tries again).
    pub fn get(&self, db: &Db, brand: &Brand) -> Arc<dyn BrandData> {
        if let Some(catalog) = self.lock().get(&brand.id) {
            return catalog.clone();
        }
        let changes = self.changes.load(Ordering::Acquire);
        let from_db = || -> Arc<dyn BrandData> {
            Arc::new(DbCatalog {
                db: db.clone(),
                brand: brand.clone(),
            })
        };
        match Catalog::load(db, brand, self.max_stock_rows) {
            Ok(Some(catalog)) => {
                let catalog = Arc::new(catalog);
                let mut loaded = self.lock();
                if self.changes.load(Ordering::Acquire) == changes {
                    loaded.insert(brand.id.clone(), catalog.clone());
                }
                catalog
            }
            Ok(None) => from_db(),
            Err(e) => {
                tracing::error!(brand = %brand.id, error = %e, "loading the catalog failed; reading it per call");
                from_db()
            }
        }
    }

    /// Forgets `brand`'s catalog: call after its stores, products, stock or time zone were
    /// written, and before answering the writer.
    pub fn invalidate(&self, brand: &str) {
        let mut loaded = self.lock();
        self.changes.fetch_add(1, Ordering::AcqRel);
        loaded.remove(brand);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Catalog>>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One brand's stores, stock and catalog read from the database on every call: for brands
/// whose stock is too large to hold in memory. A storage fault reads as "nothing there": a
/// plugin cannot tell a fault from an empty catalog, and the fault is logged.
pub struct DbCatalog {
    pub db: Db,
    pub brand: Brand,
}

fn or_log<T: Default>(result: Result<T, StorageError>) -> T {
    result.unwrap_or_else(|e| {
        tracing::error!(error = %e, "catalog read failed during a plugin call");
        T::default()
    })
}

impl BrandData for DbCatalog {
    fn stores_near(
        &self,
        at: GeoPoint,
        radius_m: u32,
        limit: u32,
        now: Timestamp,
    ) -> Vec<StoreInfo> {
        let minute = minute_of_day(now, self.brand.utc_offset_minutes);
        let stores = or_log(self.db.stores(&self.brand.id));
        StoreInfo::nearest_first(
            stores.iter().map(|s| store_info(s, at, minute)),
            radius_m,
            limit,
        )
    }

    fn stock(&self, store_id: &str, product_ids: &[String]) -> Vec<StockLevel> {
        if or_log(
            self.db
                .get::<Store>(&Db::store_key(&self.brand.id, store_id)),
        )
        .is_none()
        {
            return Vec::new();
        }
        if product_ids.is_empty() {
            return or_log(self.db.stock(&self.brand.id, store_id))
                .into_iter()
                .map(|s| StockLevel {
                    product_id: s.product_id,
                    quantity: s.quantity,
                })
                .collect();
        }
        product_ids
            .iter()
            .map(|p| StockLevel {
                product_id: p.clone(),
                quantity: or_log(
                    self.db
                        .get::<Stock>(&Db::stock_key(&self.brand.id, store_id, p)),
                )
                .map_or(0, |s| s.quantity),
            })
            .collect()
    }

    fn products(&self, ids: &[String]) -> Vec<Product> {
        if ids.is_empty() {
            return or_log(self.db.products(&self.brand.id));
        }
        ids.iter()
            .filter_map(|id| or_log(self.db.get(&Db::product_key(&self.brand.id, id))))
            .collect()
    }
}

#[cfg(test)]
mod tests;
