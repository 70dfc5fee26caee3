//! Recommend nearby: "what should this member be offered at this store now?"
//!
//! Answers `recommendation` queries. From the query's location the rule finds the brand's
//! stores within `radius_m` (nearest first, at most `max_stores`), skips the closed ones and
//! takes the nearest open store that has something from the catalog in stock. It scores every
//! catalog product in stock there (never one with zero units) by sales rank, stock, the local
//! day part and the member's taste, and returns the best `min(limit, max_items)` (`limit` 0
//! means `max_items`) with the store, the score and a reason such as
//! "best seller #1, plenty in stock, good for breakfast, you often buy fruit tea".
//!
//! Notes tell the member when the answer is not from the nearest store:
//! - "People's Square is out of stock; showing Xintiandi, 850 m away" (and "… is closed
//!   now; …" for a closed store nearer than the one shown);
//! - "no open store within 3000 m" when no store in range is open;
//! - "no open store within 3000 m has anything in stock" when every open one is sold out.
//!
//! Configuration (every key optional):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `radius_m` | `3000` | how far to look for stores, in metres (≥ 1) |
//! | `max_stores` | `5` | how many of the nearest stores, open or closed, are looked at (1..=50; each open one examined costs a stock call) |
//! | `max_items` | `10` | most items in an answer; caps the query's `limit` (≥ 1) |
//! | `low_stock` | `5` | fewer units than this are scarce: stock component 0, reason "only N left" |
//! | `plenty_stock` | `30` | this many units or more are plenty: stock component 1 (must exceed `low_stock`) |
//! | `weights.sales_rank` | `40` | weight of the sales-rank component |
//! | `weights.stock` | `25` | weight of the stock component |
//! | `weights.day_part` | `20` | weight of the day-part component |
//! | `weights.history` | `10` | weight of the purchase-history component |
//! | `weights.tags` | `5` | weight of the tag component (at least one weight must be positive) |
//! | `tag_categories` | `{}` | member tag → categories it favours, e.g. `{"fruit-lover": ["fruit-tea"]}` |
//! | `utc_offset_minutes` | `480` | the brand's time zone, for the local day part |
//!
//! ## The score
//!
//! Each component is a number in 0..=1 held in per-mille (integers 0..=1000, divisions
//! rounded half up), so the score is computed from integers in a fixed order:
//!
//! ```text
//! score = ( w_sales_rank × rank + w_stock × stock + w_day_part × day_part
//!         + w_history × history + w_tags × tags ) / 1000          (exact to 3 decimals)
//!
//! rank     = best_rank / sales_rank       best_rank: the lowest sales_rank among the products
//!                                         in stock at the store (the best one scores 1);
//!                                         sales_rank 0 (unranked) scores 0
//! stock    = 0                            if units ≤ low_stock
//!          = (units − low_stock) / (plenty_stock − low_stock)   in between
//!          = 1                            if units ≥ plenty_stock
//! day_part = 1 if the product's day_parts hold the local day part of query.at, else 0
//!            (breakfast 06:00–10:30, lunch 10:30–14:00, afternoon tea 14:00–17:30,
//!             evening 17:30–22:00, late night 22:00–06:00)
//! history  = max( units of this product / units of the member's top product,
//!                 ½ × units of its category / units of the member's top category )
//!            from member.favourites (0 without favourites)
//! tags     = 1 if a member tag maps to the product's category in tag_categories, else 0
//! ```
//!
//! With the default weights a score is out of 100. Items are ordered by score, highest
//! first; equal scores by product id. The reason lists, in that order, the factors that
//! counted (weight and component both above 0): "best seller #N" (ranks 1–3, else
//! "#N in sales"), "plenty in stock", "good for breakfast", "one of your favourites" or
//! "you often buy fruit tea", "matches your taste for fruit tea"; "only N left" is always
//! said of scarce stock; "in stock nearby" when nothing else applies.
//!
//! Host calls per query: `config`, one `stores-near`, one catalog read (skipped when no
//! store is open), one `stock` per open store examined, and `member` only when history or
//! tags carry weight (tags only with a `tag_categories` map) and there is something to score.

mod config;
mod score;

use std::collections::{BTreeMap, BTreeSet};

use rulebox_sdk::prelude::*;
use rulebox_sdk::{DayPart, GeoPoint, Product, Recommendation, RecommendationAnswer, StoreInfo};

pub use config::{Config, MAX_STORES, Weights};
pub use score::{Scored, Scorer, Taste, rank_component, stock_component};

/// The rule.
pub struct RecommendNearby;

impl Rule for RecommendNearby {
    type Config = Config;

    fn describe() -> Description {
        Description::new(
            "recommend-nearby",
            env!("CARGO_PKG_VERSION"),
            "Recommends the best-selling, well-stocked products for the time of day and the \
             member's taste at the nearest open store.",
        )
        .answers(QueryType::Recommendation)
        .reads(MemberField::History)
        .reads(MemberField::Tags)
    }

    fn on_query(ctx: &Context, config: &Config, query: &Query) -> Result<Answer, RuleError> {
        let QueryKind::Recommendation(place) = &query.kind else {
            return Err(RuleError::unsupported(
                "recommend-nearby only answers recommendation queries",
            ));
        };
        check_location(place.location)?;
        let day_part = rulebox_sdk::time::day_part(query.at, config.utc_offset_minutes)?;
        let cap = config.item_cap(place.limit);
        let radius = config.radius_m;
        let answer = |items, notes| {
            Ok(Answer::Recommendation(RecommendationAnswer {
                items,
                notes,
            }))
        };

        let stores = nearest_first(
            ctx.stores_near(place.location, radius, config.max_stores),
            config,
        );
        if !stores.iter().any(|s| s.open_now) {
            return answer(vec![], vec![format!("no open store within {radius} m")]);
        }
        let catalog = unique(ctx.catalog());
        if catalog.is_empty() {
            return answer(
                vec![],
                vec!["there is nothing in the catalog yet".to_owned()],
            );
        }
        let ids: Vec<String> = catalog.iter().map(|p| p.id.clone()).collect();

        // Stores passed over on the way to the one shown, nearest first.
        let mut passed: Vec<String> = Vec::new();
        for store in &stores {
            if !store.open_now {
                passed.push(format!("{} is closed now", store_name(store)));
                continue;
            }
            let candidates = in_stock(&catalog, &ctx.stock(&store.id, &ids));
            if candidates.is_empty() {
                passed.push(format!("{} is out of stock", store_name(store)));
                continue;
            }

            let items = recommend(ctx, config, day_part, store, &candidates, cap);
            let mut notes = Vec::new();
            if !passed.is_empty() {
                notes.push(format!(
                    "{}; showing {}, {} m away",
                    passed.join("; "),
                    store_name(store),
                    store.distance_m
                ));
            }
            return answer(items, notes);
        }
        answer(
            vec![],
            vec![format!(
                "no open store within {radius} m has anything in stock"
            )],
        )
    }
}

export_rule!(RecommendNearby);

/// The best `cap` of `candidates` (catalog products in stock at `store`), scored.
fn recommend(
    ctx: &Context,
    config: &Config,
    day_part: DayPart,
    store: &StoreInfo,
    candidates: &[(&Product, u32)],
    cap: usize,
) -> Vec<Recommendation> {
    // The member is read only when something weighs their taste.
    let weights = config.weights;
    let taste = if weights.history > 0 || (weights.tags > 0 && !config.tag_categories.is_empty()) {
        Taste::of(ctx.member(), &config.tag_categories)
    } else {
        Taste::none()
    };
    let scorer = Scorer::new(config, day_part, candidates, &taste);
    let mut scored: Vec<Scored> = candidates
        .iter()
        .map(|(product, units)| scorer.score(product, *units))
        .collect();
    score::rank(&mut scored);
    scored.truncate(cap);
    scored
        .into_iter()
        .map(|s| Recommendation {
            score: s.score(),
            product_id: s.product_id,
            store_id: store.id.clone(),
            reason: s.reason,
        })
        .collect()
}

/// A location the host can search around: finite, latitude in ±90, longitude in ±180.
fn check_location(at: GeoPoint) -> Result<(), RuleError> {
    let ok = at.lat.is_finite()
        && at.lon.is_finite()
        && (-90.0..=90.0).contains(&at.lat)
        && (-180.0..=180.0).contains(&at.lon);
    if ok {
        Ok(())
    } else {
        Err(RuleError::invalid_input(format!(
            "location ({}, {}) is not a valid latitude/longitude",
            at.lat, at.lon
        )))
    }
}

/// The host's stores, made certain: within the radius, nearest first (ties by id), at most
/// `max_stores`.
fn nearest_first(mut stores: Vec<StoreInfo>, config: &Config) -> Vec<StoreInfo> {
    stores.retain(|s| s.distance_m <= config.radius_m);
    stores.sort_by(|a, b| {
        a.distance_m
            .cmp(&b.distance_m)
            .then_with(|| a.id.cmp(&b.id))
    });
    stores.truncate(config.max_stores as usize);
    stores
}

/// The catalog without repeated ids (the first entry of an id wins).
fn unique(catalog: Vec<Product>) -> Vec<Product> {
    let mut seen = BTreeSet::new();
    catalog
        .into_iter()
        .filter(|p| seen.insert(p.id.clone()))
        .collect()
}

/// The catalog products with at least one unit on hand, in catalog order, with their units.
fn in_stock<'c>(
    catalog: &'c [Product],
    levels: &[rulebox_sdk::StockLevel],
) -> Vec<(&'c Product, u32)> {
    let mut units: BTreeMap<&str, u32> = BTreeMap::new();
    for level in levels {
        units
            .entry(level.product_id.as_str())
            .or_insert(level.quantity);
    }
    catalog
        .iter()
        .filter_map(|p| match units.get(p.id.as_str()) {
            Some(&n) if n > 0 => Some((p, n)),
            _ => None,
        })
        .collect()
}

/// What the member calls a store: its name, or its id when it has none.
fn store_name(store: &StoreInfo) -> &str {
    if store.name.is_empty() {
        &store.id
    } else {
        &store.name
    }
}

#[cfg(test)]
mod tests;
