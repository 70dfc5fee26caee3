//! The HTTP client behind the commands that talk to a running `rulebox serve`.

use anyhow::{Context, bail};
use clap::Args;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Where the server is and who is asking: flags, or the environment.
#[derive(Args, Clone, Debug)]
pub struct Remote {
    /// Base URL of the server.
    #[arg(
        long,
        env = "RULEBOX_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// An API key of the brand (from `rulebox key create`); it needs the scope the command
    /// uses: events (event, query), members (member, import), plugins (plugin, replay).
    #[arg(long, env = "RULEBOX_KEY", hide_env_values = true, global = true)]
    pub key: Option<String>,
    /// The brand to act for.
    #[arg(long, env = "RULEBOX_BRAND", global = true)]
    pub brand: Option<String>,
}

/// A connection to one brand's part of the API.
pub struct Client {
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    base: String,
    key: String,
    /// The brand every path is under.
    pub brand: String,
}

impl Client {
    /// Checks that a key and a brand were given.
    pub fn new(remote: &Remote) -> anyhow::Result<Client> {
        let Some(key) = remote.key.clone() else {
            bail!(
                "no API key: pass --key or set RULEBOX_KEY (create one with `rulebox key create`)"
            );
        };
        let Some(brand) = remote.brand.clone() else {
            bail!("no brand: pass --brand or set RULEBOX_BRAND");
        };
        if remote.server.starts_with("https://") {
            bail!(
                "{} is https, and this client speaks plain HTTP only: reach the server through a local tunnel or on a trusted network",
                remote.server
            );
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()?;
        Ok(Client {
            http,
            runtime,
            base: remote.server.trim_end_matches('/').to_owned(),
            key,
            brand,
        })
    }

    /// `path` relative to the brand, e.g. `members/m-1`.
    pub fn brand_path(&self, path: &str) -> String {
        format!("/v1/brands/{}/{path}", self.brand)
    }

    /// Sends a request and decodes a 2xx answer; anything else becomes an error carrying
    /// the server's code, message and request id.
    pub fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.runtime.block_on(async {
            let response = request.send().await.with_context(|| {
                format!("cannot reach {url}; is `rulebox serve` running there? (--server / RULEBOX_SERVER)")
            })?;
            let status = response.status();
            let bytes = response.bytes().await?;
            if !status.is_success() {
                bail!("{method} {path}: {}", describe_error(status, &bytes));
            }
            let bytes = if bytes.is_empty() { &b"null"[..] } else { &bytes[..] };
            serde_json::from_slice(bytes)
                .with_context(|| format!("{method} {path}: the answer is not the JSON expected"))
        })
    }

    /// GET returning JSON.
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(Method::GET, path, None::<&Value>)
    }

    /// POST (or another method) with a JSON body, returning JSON.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        body: &(impl Serialize + ?Sized),
    ) -> anyhow::Result<Value> {
        self.send(method, path, Some(body))
    }
}

/// `<status>: <message> (<code>, request <id>)` from the API's error JSON.
fn describe_error(status: reqwest::StatusCode, body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(json) if json["error"]["message"].is_string() => {
            let error = &json["error"];
            format!(
                "{status}: {} ({}, request {})",
                error["message"].as_str().unwrap_or_default(),
                error["code"].as_str().unwrap_or("?"),
                error["request_id"].as_str().unwrap_or("?")
            )
        }
        _ => format!("{status}: {}", String::from_utf8_lossy(body).trim()),
    }
}

/// Prints JSON for people (pretty) to stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Reads a file, or standard input for `-`.
pub fn read_input(path: &std::path::Path) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("cannot read standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

/// JSON documents from text that holds one value, a JSON array, or JSON lines.
pub fn json_items(text: &str, what: &str) -> anyhow::Result<Vec<Value>> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return serde_json::from_str(text)
            .with_context(|| format!("the {what} file is not a JSON array"));
    }
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .enumerate()
        .map(|(i, item)| item.with_context(|| format!("{what} #{} is not valid JSON", i + 1)))
        .collect()
}

/// A timestamp (ms since the epoch) from RFC 3339 (`2026-11-25T08:00:00+08:00`) or ms.
pub fn parse_time(text: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let at: jiff::Timestamp = text.parse().with_context(|| {
        format!("{text:?} is not a time; use RFC 3339 like 2026-11-25T08:00:00+08:00, or milliseconds since the epoch")
    })?;
    Ok(at.as_millisecond())
}

/// Now, in ms since the epoch (the default time of a query).
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
