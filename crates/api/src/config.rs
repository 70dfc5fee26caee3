//! Configuration of `rulebox serve`: defaults, then a TOML file (`--config`), then
//! environment variables, then command-line flags, each overriding the one before.
//!
//! | TOML key | environment | default |
//! |---|---|---|
//! | `listen` | `RULEBOX_LISTEN` | `127.0.0.1:8080` |
//! | `data_dir` | `RULEBOX_DATA_DIR` | `rulebox-data` |
//! | `admin_key` | `RULEBOX_ADMIN_KEY` | none (use `rulebox key create --admin`) |
//! | `request_timeout_secs` | `RULEBOX_REQUEST_TIMEOUT_SECS` | `30` |
//! | `header_timeout_secs` | `RULEBOX_HEADER_TIMEOUT_SECS` | `10` |
//! | `max_connections` | `RULEBOX_MAX_CONNECTIONS` | `10000` |
//! | `json_body_limit` | `RULEBOX_JSON_BODY_LIMIT` | `1048576` (1 MiB) |
//! | `plugin_body_limit` | `RULEBOX_PLUGIN_BODY_LIMIT` | `25165824` (24 MiB) |
//! | `cache_mib` | `RULEBOX_CACHE_MIB` | `128` (storage page cache, MiB) |
//!
//! Log filtering is `RULEBOX_LOG` (tracing's env-filter syntax, default `info` for serve).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use super::ApiOptions;

/// Everything `rulebox serve` needs.
#[derive(Clone, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The platform admin key (at least 24 characters). Never logged.
    pub admin_key: Option<String>,
    pub request_timeout_secs: u64,
    /// Longest a client may take to send its headers; also the keep-alive idle limit.
    pub header_timeout_secs: u64,
    /// Most connections served at once.
    pub max_connections: usize,
    pub json_body_limit: usize,
    pub plugin_body_limit: usize,
    /// The storage page cache in MiB: what of the data stays in memory. Memory use levels
    /// off only once this is full, so size it to the memory the host may use.
    pub cache_mib: u64,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<redacted>"))
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("header_timeout_secs", &self.header_timeout_secs)
            .field("max_connections", &self.max_connections)
            .field("json_body_limit", &self.json_body_limit)
            .field("plugin_body_limit", &self.plugin_body_limit)
            .field("cache_mib", &self.cache_mib)
            .finish()
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        let options = ApiOptions::default();
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("rulebox-data"),
            admin_key: None,
            request_timeout_secs: options.request_timeout.as_secs(),
            header_timeout_secs: options.header_timeout.as_secs(),
            max_connections: options.max_connections,
            json_body_limit: options.json_body_limit,
            plugin_body_limit: options.plugin_body_limit,
            cache_mib: rulebox_store::CACHE_BYTES >> 20,
        }
    }
}

impl ServeConfig {
    /// Defaults, overridden by the TOML file at `path` (if given), then by the environment
    /// (as read by `env`, e.g. `|k| std::env::var(k).ok()`).
    pub fn load(path: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("config file {} is not valid", path.display()))?
            }
            None => ServeConfig::default(),
        };
        if let Some(v) = env("RULEBOX_LISTEN") {
            config.listen = v.parse().with_context(|| {
                format!("RULEBOX_LISTEN={v:?} is not an address like 127.0.0.1:8080")
            })?;
        }
        if let Some(v) = env("RULEBOX_DATA_DIR") {
            config.data_dir = v.into();
        }
        if let Some(v) = env("RULEBOX_ADMIN_KEY").filter(|v| !v.is_empty()) {
            config.admin_key = Some(v);
        }
        for (name, slot) in [
            ("RULEBOX_JSON_BODY_LIMIT", &mut config.json_body_limit),
            ("RULEBOX_PLUGIN_BODY_LIMIT", &mut config.plugin_body_limit),
            ("RULEBOX_MAX_CONNECTIONS", &mut config.max_connections),
        ] {
            if let Some(v) = env(name) {
                *slot = v
                    .parse()
                    .with_context(|| format!("{name}={v:?} is not a whole number"))?;
            }
        }
        if let Some(v) = env("RULEBOX_CACHE_MIB") {
            config.cache_mib = v
                .parse()
                .with_context(|| format!("RULEBOX_CACHE_MIB={v:?} is not a whole number of MiB"))?;
        }
        for (name, slot) in [
            (
                "RULEBOX_REQUEST_TIMEOUT_SECS",
                &mut config.request_timeout_secs,
            ),
            (
                "RULEBOX_HEADER_TIMEOUT_SECS",
                &mut config.header_timeout_secs,
            ),
        ] {
            if let Some(v) = env(name) {
                *slot = v
                    .parse()
                    .with_context(|| format!("{name}={v:?} is not a number of seconds"))?;
            }
        }
        Ok(config)
    }

    /// The storage page cache in bytes (at least 1 MiB).
    pub fn cache_bytes(&self) -> u64 {
        self.cache_mib.clamp(1, u64::MAX >> 20) << 20
    }

    /// The API limits this configuration sets.
    pub fn options(&self) -> ApiOptions {
        ApiOptions {
            json_body_limit: self.json_body_limit,
            plugin_body_limit: self.plugin_body_limit,
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            header_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            max_connections: self.max_connections.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_override_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rulebox.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/rb\"\nrequest_timeout_secs = 5\n",
        )
        .unwrap();
        let config = ServeConfig::load(Some(&path), |k| {
            (k == "RULEBOX_DATA_DIR").then(|| "/var/rb".to_owned())
        })
        .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.data_dir, PathBuf::from("/var/rb"));
        assert_eq!(config.options().request_timeout, Duration::from_secs(5));
        assert_eq!(config.json_body_limit, 1 << 20);
        assert_eq!(config.cache_bytes(), rulebox_store::CACHE_BYTES);

        std::fs::write(&path, "cache_mib = 16\n").unwrap();
        let config = ServeConfig::load(Some(&path), |_| None).unwrap();
        assert_eq!(config.cache_bytes(), 16 << 20);
        let config = ServeConfig::load(Some(&path), |k| {
            (k == "RULEBOX_CACHE_MIB").then(|| "0".to_owned())
        })
        .unwrap();
        assert_eq!(
            config.cache_bytes(),
            1 << 20,
            "a cache of 0 MiB is raised to 1 MiB"
        );
        let error = ServeConfig::load(None, |k| {
            (k == "RULEBOX_CACHE_MIB").then(|| "lots".to_owned())
        })
        .err()
        .unwrap();
        assert!(
            format!("{error:#}").contains("RULEBOX_CACHE_MIB"),
            "{error:#}"
        );

        std::fs::write(&path, "listn = \"x\"\n").unwrap();
        assert!(ServeConfig::load(Some(&path), |_| None).is_err());
        assert!(ServeConfig::load(None, |_| Some("nope".into())).is_err());
        let config = ServeConfig {
            admin_key: Some("secret-secret-secret-secret".into()),
            ..ServeConfig::default()
        };
        assert!(!format!("{config:?}").contains("secret"));
    }
}
