//! `rulebox import`: members, stores, products and stock from JSON or CSV, sent to the server
//! in bulk with a progress bar.
//!
//! JSON files hold an array or JSON lines of the API's own shapes. CSV files have a header
//! row; the columns of each kind are listed in [`Kind`]'s help. Every import is an upsert,
//! so a failed import can be fixed and run again: members already there keep their points.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::ValueEnum;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::client::{Client, json_items, parse_time, read_input};

/// Items per request.
const CHUNK: usize = 1000;

/// What a file holds.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Kind {
    /// CSV columns: id, tier, joined_at, birth_date (YYYY-MM-DD), city, channel, inviter,
    /// tags (`;`-separated), opening_points, lifetime_spend, lifetime_orders,
    /// lifetime_points, plan, plan_tier_floor, plan_expires_at; `attr.<name>` columns
    /// become attributes. Only id is required.
    Members,
    /// CSV columns: id, name, city, lat, lon, opens_at_minute, closes_at_minute.
    Stores,
    /// CSV columns: id, name, category, price (minor units), sales_rank, day_parts
    /// (`;`-separated: breakfast, lunch, afternoon-tea, evening, late-night).
    Products,
    /// CSV columns: store_id, product_id, quantity.
    Stock,
}

/// The file format.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Json,
    Csv,
}

/// Reads the file, converts it, and sends it in chunks.
pub fn run(
    client: &Client,
    kind: Kind,
    file: &Path,
    format: Option<Format>,
) -> anyhow::Result<ExitCode> {
    let format = format.unwrap_or_else(|| {
        if file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            Format::Csv
        } else {
            Format::Json
        }
    });
    let text = read_input(file)?;
    let items = match format {
        Format::Json => json_items(&text, "item")?,
        Format::Csv => csv_items(kind, &text)?,
    };
    let path = client.brand_path(match kind {
        Kind::Members => "members",
        Kind::Stores => "stores",
        Kind::Products => "products",
        Kind::Stock => "stock",
    });
    let bar = indicatif::ProgressBar::new(items.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta}")
            .expect("a valid template"),
    );
    for (n, chunk) in items.chunks(CHUNK).enumerate() {
        client.call(Method::PUT, &path, chunk).with_context(|| {
            format!(
                "items {} to {} were not imported (the {} before them were); fix them and run the import again",
                n * CHUNK + 1,
                n * CHUNK + chunk.len(),
                n * CHUNK
            )
        })?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    eprintln!("imported {} {kind:?} into {}", items.len(), client.brand);
    Ok(ExitCode::SUCCESS)
}

/// Each CSV row as the JSON the API takes.
fn csv_items(kind: Kind, text: &str) -> anyhow::Result<Vec<Value>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .context("the CSV file has no header row")?
        .clone();
    let mut items = Vec::new();
    for (i, record) in reader.records().enumerate() {
        // Line 1 is the header.
        let line = i + 2;
        let record = record.with_context(|| format!("CSV line {line} cannot be read"))?;
        let item = match kind {
            Kind::Members => member(&headers, &record),
            Kind::Stores => record
                .deserialize::<StoreRow>(Some(&headers))
                .map_err(anyhow::Error::from)
                .map(StoreRow::into_json),
            Kind::Products => record
                .deserialize::<ProductRow>(Some(&headers))
                .map_err(anyhow::Error::from)
                .and_then(ProductRow::into_json),
            Kind::Stock => record
                .deserialize::<StockRow>(Some(&headers))
                .map_err(anyhow::Error::from)
                .map(|row| json!(row)),
        }
        .with_context(|| format!("CSV line {line}: fix the row and run the import again"))?;
        items.push(item);
    }
    Ok(items)
}

#[derive(Deserialize)]
struct StoreRow {
    id: String,
    name: String,
    city: String,
    lat: f64,
    lon: f64,
    opens_at_minute: Option<u16>,
    closes_at_minute: Option<u16>,
}

impl StoreRow {
    fn into_json(self) -> Value {
        let mut store = json!({
            "id": self.id, "name": self.name, "city": self.city,
            "location": { "lat": self.lat, "lon": self.lon },
        });
        if let Some(m) = self.opens_at_minute {
            store["opens_at_minute"] = m.into();
        }
        if let Some(m) = self.closes_at_minute {
            store["closes_at_minute"] = m.into();
        }
        store
    }
}

#[derive(Deserialize)]
struct ProductRow {
    id: String,
    name: String,
    category: String,
    price: i64,
    sales_rank: u32,
    #[serde(default)]
    day_parts: String,
}

impl ProductRow {
    fn into_json(self) -> anyhow::Result<Value> {
        let day_parts = list(&self.day_parts)
            .map(|part| match part {
                "breakfast" | "lunch" | "afternoon-tea" | "evening" | "late-night" => {
                    Ok(pascal_case(part))
                }
                other => bail!("day part {other:?} is not one of breakfast, lunch, afternoon-tea, evening, late-night"),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(json!({
            "id": self.id, "name": self.name, "category": self.category,
            "price": self.price, "sales_rank": self.sales_rank, "day_parts": day_parts,
        }))
    }
}

#[derive(Deserialize, serde::Serialize)]
struct StockRow {
    store_id: String,
    product_id: String,
    quantity: u32,
}

/// A member row: every column optional but id, typed by its name.
fn member(headers: &csv::StringRecord, record: &csv::StringRecord) -> anyhow::Result<Value> {
    let mut profile = Map::new();
    let mut attributes = Map::new();
    let (mut lifetime, mut plan) = (Map::new(), Map::new());
    for (column, cell) in headers.iter().zip(record.iter()) {
        if cell.is_empty() {
            continue;
        }
        let int = || -> anyhow::Result<Value> {
            Ok(cell
                .parse::<i64>()
                .with_context(|| format!("{column} {cell:?} is not a whole number"))?
                .into())
        };
        let time = || -> anyhow::Result<Value> { Ok(parse_time(cell)?.into()) };
        match column {
            "id" | "tier" | "city" | "channel" | "inviter" => {
                profile.insert(column.into(), cell.into());
            }
            "joined_at" => {
                profile.insert(column.into(), time()?);
            }
            "birth_date" => {
                let date: jiff::civil::Date = cell
                    .parse()
                    .with_context(|| format!("birth_date {cell:?} is not YYYY-MM-DD"))?;
                profile.insert(
                    column.into(),
                    json!({ "year": date.year(), "month": date.month(), "day": date.day() }),
                );
            }
            "tags" => {
                profile.insert(column.into(), list(cell).collect::<Vec<_>>().into());
            }
            "opening_points" => {
                profile.insert(column.into(), int()?);
            }
            "lifetime_spend" => {
                lifetime.insert("spend".into(), int()?);
            }
            "lifetime_orders" => {
                lifetime.insert("orders".into(), int()?);
            }
            "lifetime_points" => {
                lifetime.insert("points_earned".into(), int()?);
            }
            "plan" => {
                plan.insert("plan".into(), cell.into());
            }
            "plan_tier_floor" => {
                plan.insert("tier_floor".into(), cell.into());
            }
            "plan_expires_at" => {
                plan.insert("expires_at".into(), time()?);
            }
            other => match other.strip_prefix("attr.") {
                Some(name) => {
                    attributes.insert(name.into(), cell.into());
                }
                None => bail!(
                    "unknown column {other:?}; see `rulebox import --help` for the member columns"
                ),
            },
        }
    }
    if !profile.contains_key("id") {
        bail!("the row has no id");
    }
    if !lifetime.is_empty() {
        for field in ["spend", "orders", "points_earned"] {
            lifetime.entry(field).or_insert(0.into());
        }
        profile.insert("lifetime".into(), lifetime.into());
    }
    if !plan.is_empty() {
        profile.insert("paid_plan".into(), plan.into());
    }
    if !attributes.is_empty() {
        profile.insert("attributes".into(), attributes.into());
    }
    Ok(profile.into())
}

/// The items of a `;`-separated cell.
fn list(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(';').map(str::trim).filter(|s| !s.is_empty())
}

/// `afternoon-tea` → `AfternoonTea` (how serde names the WIT enum's cases).
fn pascal_case(kebab: &str) -> String {
    kebab
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_rows_become_profiles() {
        let text = "id,tier,tags,opening_points,birth_date,lifetime_spend,attr.source\nm-1,gold,tea; vip ,250,1990-04-02,12000,pos\nm-2,,,,,,\n";
        let items = csv_items(Kind::Members, text).unwrap();
        assert_eq!(
            items[0],
            json!({"id": "m-1", "tier": "gold", "tags": ["tea", "vip"], "opening_points": 250,
                   "birth_date": {"year": 1990, "month": 4, "day": 2},
                   "lifetime": {"spend": 12000, "orders": 0, "points_earned": 0},
                   "attributes": {"source": "pos"}})
        );
        assert_eq!(items[1], json!({"id": "m-2"}));
    }

    #[test]
    fn bad_rows_name_their_line_and_column() {
        let error = csv_items(Kind::Members, "id,opening_points\nm-1,10\nm-2,lots\n").unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("CSV line 3"), "{message}");
        assert!(message.contains("opening_points \"lots\""), "{message}");
        let error = csv_items(Kind::Members, "id,colour\nm-1,red\n").unwrap_err();
        assert!(format!("{error:#}").contains("unknown column \"colour\""));
    }

    #[test]
    fn catalog_rows_take_the_api_shapes() {
        let stores = csv_items(
            Kind::Stores,
            "id,name,city,lat,lon,opens_at_minute\nsh-1,Jing'an,Shanghai,31.22,121.44,600\n",
        )
        .unwrap();
        assert_eq!(stores[0]["location"], json!({"lat": 31.22, "lon": 121.44}));
        assert_eq!(stores[0]["opens_at_minute"], 600);
        assert!(stores[0].get("closes_at_minute").is_none());
        let products = csv_items(
            Kind::Products,
            "id,name,category,price,sales_rank,day_parts\np-1,Jasmine,tea,1800,3,breakfast;afternoon-tea\n",
        )
        .unwrap();
        assert_eq!(
            products[0]["day_parts"],
            json!(["Breakfast", "AfternoonTea"])
        );
        assert!(
            csv_items(
                Kind::Products,
                "id,name,category,price,sales_rank,day_parts\np,n,c,1,1,brunch\n"
            )
            .is_err()
        );
        let stock = csv_items(Kind::Stock, "store_id,product_id,quantity\nsh-1,p-1,-3\n");
        assert!(stock.is_err(), "negative stock is refused");
    }
}
