//! The plugin registry: every installed version of every brand's plugins, which one is
//! active, and the loaded, ready-to-call plugins the pipeline runs.
//!
//! Activation swaps an immutable snapshot ([`BrandPlugins`]) under a lock: an event takes
//! the snapshot once when it starts, so in-flight events finish on the versions they began
//! with, and the next event sees the new ones. Every change is committed and flushed before
//! it takes effect, so versions and activations survive restarts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use rulebox_sandbox::{Limits, LoadError, Plugin, Sandbox};
use rulebox_store::{Batch, Db, StorageError};
use rulebox_world::validate::check_id;
use rulebox_world::{EventType, QueryType};

/// What a brand deploys with a plugin's component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The brand that owns the plugin.
    pub brand: String,
    /// Must equal the name the plugin's `describe` returns.
    pub name: String,
    /// Must equal the version the plugin's `describe` returns.
    pub version: String,
    /// Event kinds it handles; must equal what `describe` declares.
    #[serde(default)]
    pub events: Vec<EventType>,
    /// Query kinds it answers; must equal what `describe` declares.
    #[serde(default)]
    pub queries: Vec<QueryType>,
    /// Position in the brand's chain: lower runs first (ties by name).
    #[serde(default)]
    pub order: i32,
    /// What a failure of this plugin does to the event.
    #[serde(default)]
    pub on_failure: FailurePolicy,
    /// Resource bounds of every call.
    #[serde(default)]
    pub limits: Limits,
    /// The plugin's configuration, handed to it as JSON.
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// What happens to an event when a plugin fails on it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum FailurePolicy {
    /// Nothing of the event is committed; it goes to the dead-letter list for replay.
    #[default]
    Abort,
    /// The plugin's effects are left out, the failure is recorded in the outcome, and the
    /// rest of the chain goes on.
    Skip,
}

/// An installed version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PluginVersion {
    pub manifest: Manifest,
    /// blake3 of the component.
    pub digest: String,
    /// Size of the component in bytes.
    pub size: u64,
}

/// Which version of a plugin is active, and the ones active before it (for rollback).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Activation {
    pub name: String,
    /// `None` when the plugin is disabled.
    pub active: Option<String>,
    /// Earlier active versions, most recent last.
    pub history: Vec<String>,
}

/// A plugin ready to run in a brand's chain.
pub struct ActivePlugin {
    pub manifest: Manifest,
    pub plugin: Arc<Plugin>,
    /// `manifest.config` as JSON text, as the plugin reads it.
    pub config: Arc<str>,
}

/// The active plugins of one brand, in chain order. Immutable: replaced whole on change.
#[derive(Default)]
pub struct BrandPlugins {
    pub plugins: Vec<Arc<ActivePlugin>>,
}

impl BrandPlugins {
    /// A chain of `plugins` in chain order: by `order`, then by name.
    fn in_chain_order(mut plugins: Vec<Arc<ActivePlugin>>) -> Self {
        plugins.sort_by(|a, b| {
            (a.manifest.order, &a.manifest.name).cmp(&(b.manifest.order, &b.manifest.name))
        });
        BrandPlugins { plugins }
    }

    /// The plugin `name` in this chain, if it is in it.
    pub fn get(&self, name: &str) -> Option<&Arc<ActivePlugin>> {
        self.plugins.iter().find(|p| p.manifest.name == name)
    }

    /// The chain for an event kind.
    pub fn for_event(&self, kind: EventType) -> impl Iterator<Item = &Arc<ActivePlugin>> {
        self.plugins
            .iter()
            .filter(move |p| p.manifest.events.contains(&kind))
    }

    /// The plugins answering a query kind.
    pub fn for_query(&self, kind: QueryType) -> impl Iterator<Item = &Arc<ActivePlugin>> {
        self.plugins
            .iter()
            .filter(move |p| p.manifest.queries.contains(&kind))
    }
}

/// Why a registry operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    #[error("invalid plugin: {0}")]
    InvalidPlugin(#[from] LoadError),
    #[error(
        "the plugin's description disagrees with its manifest: {0}. Make the manifest match what describe() returns"
    )]
    ManifestMismatch(String),
    #[error(
        "{brand}/{name}@{version} is already installed with different content; bump the version"
    )]
    VersionExists {
        brand: String,
        name: String,
        version: String,
    },
    #[error("no plugin {brand}/{name}@{version} is installed; install it first")]
    UnknownVersion {
        brand: String,
        name: String,
        version: String,
    },
    #[error("plugin {brand}/{name} has no earlier version to roll back to")]
    NothingToRollBack { brand: String, name: String },
    #[error(
        "{brand}/{name}@{version} is active; activate another version or disable the plugin before removing it"
    )]
    VersionActive {
        brand: String,
        name: String,
        version: String,
    },
    #[error("unknown brand {0}; create it first")]
    UnknownBrand(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The registry.
pub struct Registry {
    db: Db,
    sandbox: Arc<Sandbox>,
    snapshots: RwLock<HashMap<String, Arc<BrandPlugins>>>,
    loaded: Mutex<HashMap<(String, String, String), Arc<Plugin>>>,
    /// Serialises changes, so read-modify-write of activations cannot interleave.
    writes: Mutex<()>,
}

impl Registry {
    /// Opens the registry and loads every brand's active plugins (from the compile cache
    /// when warm).
    pub fn open(db: Db, sandbox: Arc<Sandbox>) -> Result<Self, RegistryError> {
        let registry = Registry {
            db,
            sandbox,
            snapshots: RwLock::new(HashMap::new()),
            loaded: Mutex::new(HashMap::new()),
            writes: Mutex::new(()),
        };
        for brand in registry.db.brands()? {
            registry.rebuild(&brand.id)?;
        }
        Ok(registry)
    }

    /// The active plugins of `brand` right now.
    pub fn snapshot(&self, brand: &str) -> Arc<BrandPlugins> {
        self.snapshots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(brand)
            .cloned()
            .unwrap_or_default()
    }

    /// Validates and stores a new version. Does not activate it. Installing the same bytes
    /// again under the same version is a no-op.
    pub fn install(&self, manifest: Manifest, wasm: &[u8]) -> Result<PluginVersion, RegistryError> {
        let _write = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        for (what, id) in [
            ("brand", &manifest.brand),
            ("name", &manifest.name),
            ("version", &manifest.version),
        ] {
            check_id(what, id).map_err(RegistryError::InvalidManifest)?;
        }
        if self.db.brand(&manifest.brand)?.is_none() {
            return Err(RegistryError::UnknownBrand(manifest.brand));
        }
        if !manifest.config.is_object() {
            return Err(RegistryError::InvalidManifest(
                "config must be a JSON object".into(),
            ));
        }
        let plugin =
            self.sandbox
                .load_configured(wasm, manifest.limits, &manifest.config.to_string())?;
        check_description(&manifest, &plugin)?;

        let version_key = Db::registry_key(
            &manifest.brand,
            "plugin",
            &[&manifest.name, &manifest.version],
        );
        // Brands deploying the platform's stock plugins upload the same bytes: one stored
        // copy, not one per brand, each of which sled also kept in its cache (about a MiB
        // per brand of the demo's four; docs/benchmarks/runs/12.md).
        let component_key = Db::component_key(&plugin.digest);
        let mut batch = Batch::default();
        if self.db.get_bytes(&component_key)?.is_none() {
            batch.puts.push((component_key, wasm.to_vec()));
        }
        if let Some(existing) = self.db.get::<PluginVersion>(&version_key)? {
            if existing.digest == plugin.digest && existing.manifest == manifest {
                // Installing again restores a component lost from the store.
                if !batch.puts.is_empty() {
                    self.db.commit(&batch)?;
                    self.db.flush()?;
                }
                return Ok(existing);
            }
            return Err(RegistryError::VersionExists {
                brand: manifest.brand,
                name: manifest.name,
                version: manifest.version,
            });
        }
        let record = PluginVersion {
            digest: plugin.digest.clone(),
            size: wasm.len() as u64,
            manifest,
        };
        batch.put(version_key, &record);
        self.db.commit(&batch)?;
        self.db.flush()?;
        let m = &record.manifest;
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                (m.brand.clone(), m.name.clone(), m.version.clone()),
                Arc::new(plugin),
            );
        Ok(record)
    }

    /// Makes `version` the active version of the plugin; the one active before goes into the
    /// rollback history.
    pub fn activate(
        &self,
        brand: &str,
        name: &str,
        version: &str,
    ) -> Result<Activation, RegistryError> {
        self.change(brand, name, |activation| {
            if activation.active.as_deref() != Some(version) {
                if let Some(previous) = activation.active.take() {
                    activation.history.push(previous);
                }
                activation.active = Some(version.to_owned());
            }
            Ok(())
        })
    }

    /// Re-activates the version active before the current one.
    pub fn rollback(&self, brand: &str, name: &str) -> Result<Activation, RegistryError> {
        self.change(brand, name, |activation| {
            let previous =
                activation
                    .history
                    .pop()
                    .ok_or_else(|| RegistryError::NothingToRollBack {
                        brand: brand.to_owned(),
                        name: name.to_owned(),
                    })?;
            activation.active = Some(previous);
            Ok(())
        })
    }

    /// Stops running the plugin (its versions stay installed).
    pub fn disable(&self, brand: &str, name: &str) -> Result<Activation, RegistryError> {
        self.change(brand, name, |activation| {
            if let Some(previous) = activation.active.take() {
                activation.history.push(previous);
            }
            Ok(())
        })
    }

    /// Deletes an inactive version.
    pub fn remove(&self, brand: &str, name: &str, version: &str) -> Result<(), RegistryError> {
        let _write = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let activation = self.activation(brand, name)?;
        if activation.active.as_deref() == Some(version) {
            return Err(RegistryError::VersionActive {
                brand: brand.into(),
                name: name.into(),
                version: version.into(),
            });
        }
        self.version(brand, name, version)?;
        let mut batch = Batch::default();
        batch
            .deletes
            .push(Db::registry_key(brand, "plugin", &[name, version]));
        let mut activation = activation;
        activation.history.retain(|v| v != version);
        batch.put(Db::registry_key(brand, "active", &[name]), &activation);
        self.db.commit(&batch)?;
        self.db.flush()?;
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(brand.to_owned(), name.to_owned(), version.to_owned()));
        Ok(())
    }

    /// Every installed version of every plugin of `brand`, with activations.
    pub fn list(
        &self,
        brand: &str,
    ) -> Result<(Vec<PluginVersion>, Vec<Activation>), RegistryError> {
        Ok((
            self.db.scan_registry(brand, "plugin", &[])?,
            self.db.scan_registry(brand, "active", &[])?,
        ))
    }

    fn activation(&self, brand: &str, name: &str) -> Result<Activation, RegistryError> {
        Ok(self
            .db
            .get(&Db::registry_key(brand, "active", &[name]))?
            .unwrap_or_else(|| Activation {
                name: name.to_owned(),
                ..Activation::default()
            }))
    }

    fn version(
        &self,
        brand: &str,
        name: &str,
        version: &str,
    ) -> Result<PluginVersion, RegistryError> {
        self.db
            .get(&Db::registry_key(brand, "plugin", &[name, version]))?
            .ok_or_else(|| RegistryError::UnknownVersion {
                brand: brand.into(),
                name: name.into(),
                version: version.into(),
            })
    }

    /// Read-modify-write of an activation, then a new snapshot for the brand.
    fn change(
        &self,
        brand: &str,
        name: &str,
        edit: impl FnOnce(&mut Activation) -> Result<(), RegistryError>,
    ) -> Result<Activation, RegistryError> {
        let _write = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let mut activation = self.activation(brand, name)?;
        edit(&mut activation)?;
        if let Some(version) = &activation.active {
            // Load before committing: an activation that cannot run is refused.
            self.load(brand, name, version)?;
        }
        let mut batch = Batch::default();
        batch.put(Db::registry_key(brand, "active", &[name]), &activation);
        self.db.commit(&batch)?;
        self.db.flush()?;
        self.rebuild(brand)?;
        Ok(activation)
    }

    /// A loaded plugin version, loading it from the database if needed.
    fn load(
        &self,
        brand: &str,
        name: &str,
        version: &str,
    ) -> Result<(Arc<Plugin>, PluginVersion), RegistryError> {
        let record = self.version(brand, name, version)?;
        let key = (brand.to_owned(), name.to_owned(), version.to_owned());
        if let Some(plugin) = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok((plugin.clone(), record));
        }
        let wasm = self.component(brand, &record.digest)?;
        let plugin = Arc::new(self.sandbox.load_configured(
            &wasm,
            record.manifest.limits,
            &record.manifest.config.to_string(),
        )?);
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, plugin.clone());
        Ok((plugin, record))
    }

    /// The bytes of the component with `digest` that `brand` installed.
    fn component(&self, brand: &str, digest: &str) -> Result<Vec<u8>, RegistryError> {
        if let Some(wasm) = self.db.get_bytes(&Db::component_key(digest))? {
            return Ok(wasm);
        }
        // Where versions installed before components were shared keep theirs.
        let legacy = Db::registry_key(brand, "wasm", &[digest]);
        Ok(self
            .db
            .get_bytes(&legacy)?
            .ok_or_else(|| StorageError::Corrupt {
                key: format!("component/{digest}"),
                message: format!(
                    "the component of a plugin of brand {brand} is missing (installing that \
                     version again also restores it)"
                ),
            })?)
    }

    /// A loaded version, ready to run in a chain.
    fn ready(&self, brand: &str, name: &str, version: &str) -> Result<ActivePlugin, RegistryError> {
        let (plugin, record) = self.load(brand, name, version)?;
        Ok(ActivePlugin {
            config: Arc::from(record.manifest.config.to_string()),
            manifest: record.manifest,
            plugin,
        })
    }

    /// Builds and swaps in the brand's snapshot from its stored activations.
    fn rebuild(&self, brand: &str) -> Result<(), RegistryError> {
        let mut plugins = Vec::new();
        for activation in self.db.scan_registry::<Activation>(brand, "active", &[])? {
            let Some(version) = &activation.active else {
                continue;
            };
            plugins.push(Arc::new(self.ready(brand, &activation.name, version)?));
        }
        let chain = BrandPlugins::in_chain_order(plugins);
        self.snapshots
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(brand.to_owned(), Arc::new(chain));
        Ok(())
    }

    /// The brand's current chain as it would be with `version` of plugin `name` active: that
    /// version replaces the active one (or joins the chain if the plugin is not active), in
    /// chain order. Nothing is stored or activated: this is for evaluating a version before
    /// activating it (see [`crate::Rulebox::replay_candidate`]).
    pub fn candidate(
        &self,
        brand: &str,
        name: &str,
        version: &str,
    ) -> Result<Arc<BrandPlugins>, RegistryError> {
        let candidate = Arc::new(self.ready(brand, name, version)?);
        let mut plugins: Vec<Arc<ActivePlugin>> = self
            .snapshot(brand)
            .plugins
            .iter()
            .filter(|p| p.manifest.name != name)
            .cloned()
            .collect();
        plugins.push(candidate);
        Ok(Arc::new(BrandPlugins::in_chain_order(plugins)))
    }
}

/// The manifest must say what the plugin says of itself.
fn check_description(manifest: &Manifest, plugin: &Plugin) -> Result<(), RegistryError> {
    let d = &plugin.description;
    let mut problems = Vec::new();
    if d.name != manifest.name {
        problems.push(format!(
            "name is {:?} in the plugin but {:?} in the manifest",
            d.name, manifest.name
        ));
    }
    if d.version != manifest.version {
        problems.push(format!(
            "version is {:?} in the plugin but {:?} in the manifest",
            d.version, manifest.version
        ));
    }
    if !same_set(&d.events, &manifest.events) {
        problems.push(format!(
            "events are {:?} in the plugin but {:?} in the manifest",
            d.events, manifest.events
        ));
    }
    if !same_set(&d.queries, &manifest.queries) {
        problems.push(format!(
            "queries are {:?} in the plugin but {:?} in the manifest",
            d.queries, manifest.queries
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RegistryError::ManifestMismatch(problems.join("; ")))
    }
}

fn same_set<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}
