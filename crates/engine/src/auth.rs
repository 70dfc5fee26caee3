//! API keys: who may call the HTTP API, for which brand, and for what.
//!
//! A key is 32 random bytes shown once, at creation, as `rbx_<64 hex digits>`. Only its
//! blake3 hash is stored, under the platform-level key `\0apikey\0<hash hex>`: like the
//! brand list it starts with the empty brand, so it lies outside every brand's data range
//! (a brand's range can be exported or scanned without carrying credentials) and a lookup
//! is one point read by hash.
//!
//! A key belongs either to one brand, with [`Scope`]s `events`, `plugins` and `members`, or
//! to the platform, with the single scope `admin` (create brands and keys). The platform
//! may also have an admin key from configuration (`RULEBOX_ADMIN_KEY`), which is never
//! stored; it is compared by hash. Keys never appear in logs: only the key id (the first 12
//! hex digits of the hash) does.

use serde::{Deserialize, Serialize};

use rulebox_store::{Batch, Db, StorageError};

/// What a key may do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Ingest events, dry runs, queries.
    Events,
    /// Install, activate, roll back, disable and remove plugins; dead letters.
    Plugins,
    /// Read and write members and the catalog (stores, products, stock).
    Members,
    /// Platform administration: create brands and keys. Never combined with a brand.
    Admin,
}

impl Scope {
    /// Every scope a brand key may hold.
    pub const BRAND: [Scope; 3] = [Scope::Events, Scope::Plugins, Scope::Members];

    /// The scope's name as used in the API and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Events => "events",
            Scope::Plugins => "plugins",
            Scope::Members => "members",
            Scope::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, AuthError> {
        match s.trim() {
            "events" => Ok(Scope::Events),
            "plugins" => Ok(Scope::Plugins),
            "members" => Ok(Scope::Members),
            "admin" => Ok(Scope::Admin),
            other => Err(AuthError::InvalidScopes(format!(
                "unknown scope {other:?}; use events, plugins, members (brand keys) or admin"
            ))),
        }
    }
}

/// A stored key: everything but the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeyRecord {
    /// Public identifier: the first 12 hex digits of the key's hash (safe to log).
    pub id: String,
    /// The brand the key acts for; `None` for a platform admin key.
    pub brand: Option<String>,
    pub scopes: Vec<Scope>,
    /// Free text to tell keys apart ("checkout service").
    #[serde(default)]
    pub label: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

/// Who is calling: the result of checking a key.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The key id (`config` for the configured admin key).
    pub key_id: String,
    pub brand: Option<String>,
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// True for a platform admin.
    pub fn is_admin(&self) -> bool {
        self.brand.is_none() && self.scopes.contains(&Scope::Admin)
    }
}

/// Why a key could not be created or checked.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid scopes: {0}")]
    InvalidScopes(String),
    #[error("unknown brand {0}; create the brand first")]
    UnknownBrand(String),
    #[error("the system's random number generator failed: {0}; retry")]
    Random(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A newly created key: the secret (show it once) and what is stored.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct NewKey {
    /// The secret. Not stored anywhere: give it to the caller and forget it.
    pub key: String,
    #[serde(flatten)]
    pub record: KeyRecord,
}

const KEY_PREFIX: &str = "rbx_";

/// The database key of the record of a key with this hash.
fn record_key(hash_hex: &str) -> Vec<u8> {
    let mut key = b"\0apikey\0".to_vec();
    key.extend_from_slice(hash_hex.as_bytes());
    key
}

fn hash_hex(secret: &str) -> String {
    blake3::hash(secret.as_bytes()).to_hex().to_string()
}

/// Parses a comma-separated scope list (`events,members`).
pub fn parse_scopes(list: &str) -> Result<Vec<Scope>, AuthError> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// Creates a key for `brand` (or a platform admin key when `brand` is `None`), stores its
/// hash and returns the secret. Brand keys need at least one brand scope; admin keys get
/// exactly `admin`.
pub fn create_key(
    db: &Db,
    brand: Option<&str>,
    scopes: &[Scope],
    label: &str,
    now_ms: i64,
) -> Result<NewKey, AuthError> {
    let mut scopes: Vec<Scope> = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    match brand {
        Some(brand) => {
            if scopes.is_empty() {
                return Err(AuthError::InvalidScopes(
                    "a brand key needs at least one scope: events, plugins or members".into(),
                ));
            }
            if scopes.contains(&Scope::Admin) {
                return Err(AuthError::InvalidScopes(
                    "admin is a platform scope; create an admin key without a brand".into(),
                ));
            }
            if db.brand(brand)?.is_none() {
                return Err(AuthError::UnknownBrand(brand.to_owned()));
            }
        }
        None => {
            if scopes.iter().any(|s| *s != Scope::Admin) {
                return Err(AuthError::InvalidScopes(
                    "a key without a brand is an admin key; give it only the admin scope".into(),
                ));
            }
            scopes = vec![Scope::Admin];
        }
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| AuthError::Random(e.to_string()))?;
    let key = format!("{KEY_PREFIX}{}", hex(&secret));
    let hash = hash_hex(&key);
    let record = KeyRecord {
        id: hash[..12].to_owned(),
        brand: brand.map(str::to_owned),
        scopes,
        label: label.to_owned(),
        created_at: now_ms,
    };
    let mut batch = Batch::default();
    batch.put(record_key(&hash), &record);
    db.commit(&batch)?;
    db.flush()?;
    Ok(NewKey { key, record })
}

/// The stored keys of `brand` (the platform admin keys for `None`), oldest first. Records
/// only: the secrets are not stored.
pub fn list_keys(db: &Db, brand: Option<&str>) -> Result<Vec<KeyRecord>, StorageError> {
    let mut keys: Vec<KeyRecord> = db
        .scan_all::<KeyRecord>(&record_key(""))?
        .into_iter()
        .map(|(_, record)| record)
        .filter(|record| record.brand.as_deref() == brand)
        .collect();
    keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(keys)
}

/// Revokes the key with this id of `brand` (an admin key for `None`): it stops working at
/// once. False when there is no such key.
pub fn revoke_key(db: &Db, brand: Option<&str>, id: &str) -> Result<bool, StorageError> {
    let found = db
        .scan_all::<KeyRecord>(&record_key(""))?
        .into_iter()
        .find(|(_, record)| record.id == id && record.brand.as_deref() == brand);
    let Some((key, _)) = found else {
        return Ok(false);
    };
    let mut batch = Batch::default();
    batch.deletes.push(key);
    db.commit(&batch)?;
    db.flush()?;
    Ok(true)
}

/// Checks a presented key: the configured admin key (compared by hash), or a stored key.
/// `Ok(None)` when the key is unknown.
pub fn authenticate(
    db: &Db,
    presented: &str,
    admin_key: Option<&AdminKey>,
) -> Result<Option<Principal>, StorageError> {
    let hash = blake3::hash(presented.as_bytes());
    if let Some(admin) = admin_key
        && admin.0 == hash
    {
        // blake3::Hash compares in constant time.
        return Ok(Some(Principal {
            key_id: "config".into(),
            brand: None,
            scopes: vec![Scope::Admin],
        }));
    }
    if !presented.starts_with(KEY_PREFIX) {
        return Ok(None);
    }
    let record: Option<KeyRecord> = db.get(&record_key(&hash.to_hex()))?;
    Ok(record.map(|r| Principal {
        key_id: r.id,
        brand: r.brand,
        scopes: r.scopes,
    }))
}

/// The configured platform admin key, held only as its hash.
#[derive(Clone)]
pub struct AdminKey(blake3::Hash);

impl AdminKey {
    /// Hashes the configured key. Refuses keys shorter than 24 characters.
    pub fn new(secret: &str) -> Result<Self, AuthError> {
        if secret.len() < 24 {
            return Err(AuthError::InvalidScopes(
                "the admin key is shorter than 24 characters; use a long random string (e.g. one from `rulebox key create --admin`)".into(),
            ));
        }
        Ok(AdminKey(blake3::hash(secret.as_bytes())))
    }
}

impl std::fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminKey(<redacted>)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rulebox_store::MemoryKv;
    use rulebox_store::model::Brand;
    use std::sync::Arc;

    fn db_with_brand() -> Db {
        let db = Db::new(Arc::new(MemoryKv::new()));
        let mut batch = Batch::default();
        let brand = Brand {
            id: "tea".into(),
            ..Brand::default()
        };
        batch.put(Db::brand_key("tea"), &brand);
        db.commit(&batch).unwrap();
        db
    }

    #[test]
    fn a_created_key_authenticates_and_only_its_hash_is_stored() {
        let db = db_with_brand();
        let new = create_key(&db, Some("tea"), &[Scope::Members, Scope::Events], "x", 1).unwrap();
        assert!(new.key.starts_with("rbx_") && new.key.len() == 68);
        let who = authenticate(&db, &new.key, None).unwrap().unwrap();
        assert_eq!(who.brand.as_deref(), Some("tea"));
        assert_eq!(who.scopes, vec![Scope::Events, Scope::Members]);
        assert!(
            db.get::<KeyRecord>(&record_key(&new.key))
                .unwrap()
                .is_none()
        );
        assert!(authenticate(&db, "rbx_00", None).unwrap().is_none());
        // Keys are outside the brand's range: the brand list is unchanged.
        assert_eq!(db.brands().unwrap().len(), 1);
    }

    #[test]
    fn keys_are_listed_per_brand_and_a_revoked_key_stops_working() {
        let db = db_with_brand();
        let first = create_key(&db, Some("tea"), &[Scope::Events], "pos", 1).unwrap();
        let second = create_key(&db, Some("tea"), &[Scope::Members], "crm", 2).unwrap();
        let admin = create_key(&db, None, &[Scope::Admin], "ops", 3).unwrap();
        assert_eq!(
            list_keys(&db, Some("tea")).unwrap(),
            vec![first.record.clone(), second.record.clone()]
        );
        assert_eq!(list_keys(&db, None).unwrap(), vec![admin.record.clone()]);
        // Only the brand's own key ids revoke anything.
        assert!(!revoke_key(&db, Some("coffee"), &first.record.id).unwrap());
        assert!(!revoke_key(&db, Some("tea"), &admin.record.id).unwrap());
        assert!(revoke_key(&db, Some("tea"), &first.record.id).unwrap());
        assert!(authenticate(&db, &first.key, None).unwrap().is_none());
        assert!(authenticate(&db, &second.key, None).unwrap().is_some());
        assert!(!revoke_key(&db, Some("tea"), &first.record.id).unwrap());
        assert_eq!(list_keys(&db, Some("tea")).unwrap(), vec![second.record]);
    }

    #[test]
    fn scopes_are_checked() {
        let db = db_with_brand();
        assert!(create_key(&db, Some("tea"), &[], "", 0).is_err());
        assert!(create_key(&db, Some("tea"), &[Scope::Admin], "", 0).is_err());
        assert!(create_key(&db, None, &[Scope::Events], "", 0).is_err());
        assert!(matches!(
            create_key(&db, Some("coffee"), &[Scope::Events], "", 0),
            Err(AuthError::UnknownBrand(_))
        ));
        assert_eq!(
            parse_scopes("events, members").unwrap(),
            vec![Scope::Events, Scope::Members]
        );
        assert!(parse_scopes("events,root").is_err());
    }

    #[test]
    fn the_configured_admin_key_is_compared_by_hash() {
        let db = db_with_brand();
        let admin = AdminKey::new("a-very-long-admin-secret-0123").unwrap();
        let who = authenticate(&db, "a-very-long-admin-secret-0123", Some(&admin))
            .unwrap()
            .unwrap();
        assert!(who.is_admin());
        assert!(
            authenticate(&db, "a-very-long-admin-secret-0124", Some(&admin))
                .unwrap()
                .is_none()
        );
        assert!(AdminKey::new("short").is_err());
        assert_eq!(format!("{admin:?}"), "AdminKey(<redacted>)");
    }
}
