//! Key layout. Every key of brand data starts with the brand id, so one brand's data is one
//! contiguous range and a lookup cannot reach another brand's.
//!
//! `\0`-separated: `<brand>\0<table>\0<id>[\0<id>…]`. Ids never contain `\0` (checked at the
//! API boundary), so prefixes cannot collide (`m-1` vs `m-10`).

/// A key of `table` for `brand`.
pub(crate) fn key(brand: &str, table: &str, parts: &[&str]) -> Vec<u8> {
    let mut key = Vec::with_capacity(
        brand.len() + table.len() + 2 + parts.iter().map(|p| p.len() + 1).sum::<usize>(),
    );
    key.extend_from_slice(brand.as_bytes());
    key.push(0);
    key.extend_from_slice(table.as_bytes());
    for part in parts {
        key.push(0);
        key.extend_from_slice(part.as_bytes());
    }
    key
}

/// The prefix of every key under `parts` in `table` (with the trailing separator).
pub(crate) fn prefix(brand: &str, table: &str, parts: &[&str]) -> Vec<u8> {
    let mut prefix = key(brand, table, parts);
    prefix.push(0);
    prefix
}

/// Key of the list of brands.
pub(crate) fn brand(id: &str) -> Vec<u8> {
    key("", "brand", &[id])
}

pub(crate) const BRANDS_PREFIX: &[u8] = b"\0brand\0";

/// Ledger sequence numbers as fixed-width hex so they sort numerically.
pub(crate) fn seq(seq: u64) -> String {
    format!("{seq:016x}")
}
