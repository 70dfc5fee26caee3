//! What a plugin may read of its brand's data besides the member: the contract between the
//! sandbox's host functions and the store that answers them.

use crate::{GeoPoint, Product, StockLevel, StoreInfo, Timestamp};

/// The brand's stores, stock and catalog, as host imports read them. Implemented by the
/// in-memory `rulebox_store::Catalog` (live calls and `rulebox test`) and, for brands too large to
/// hold, by `rulebox_store::DbCatalog`. Every method is scoped to one brand by construction: there
/// is no way to name another.
pub trait BrandData: Send + Sync {
    /// Stores within `radius_m` of `at`, nearest first, at most `limit`, `open-now` judged at
    /// `now` (event time).
    fn stores_near(
        &self,
        at: GeoPoint,
        radius_m: u32,
        limit: u32,
        now: Timestamp,
    ) -> Vec<StoreInfo>;
    /// Stock at one store (all stocked products when `product_ids` is empty).
    fn stock(&self, store_id: &str, product_ids: &[String]) -> Vec<StockLevel>;
    /// Catalog entries in the order asked (the whole catalog when `ids` is empty).
    fn products(&self, ids: &[String]) -> Vec<Product>;
}
