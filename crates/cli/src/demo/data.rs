//! The demo brand's data, generated from a seed: a tea-drinks chain ("Leaf & Cup") with
//! stores in Shanghai and Shenzhen, a menu, stock per store, and members with varied
//! histories. Same seed, same data, on every machine.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use rulebox_store::model::{Brand, MemberProfile, Stock, Store};
use rulebox_world::{Activity, Date, DayPart, GeoPoint, PaidPlan, Product};

/// The demo brand's id.
pub const BRAND: &str = "demo-tea";

/// Everything the demo loads.
pub struct DemoData {
    pub brand: Brand,
    pub stores: Vec<Store>,
    pub products: Vec<Product>,
    pub stock: Vec<Stock>,
    pub members: Vec<MemberProfile>,
}

/// Neighbourhoods with real coordinates; stores are placed around them.
const SHANGHAI: &[(&str, f64, f64)] = &[
    ("People's Square", 31.2335, 121.4747),
    ("Nanjing Road East", 31.2380, 121.4840),
    ("Jing'an Temple", 31.2237, 121.4451),
    ("Xintiandi", 31.2192, 121.4752),
    ("Lujiazui", 31.2397, 121.4998),
    ("Century Avenue", 31.2290, 121.5250),
    ("Xujiahui", 31.1950, 121.4370),
    ("Zhongshan Park", 31.2230, 121.4170),
    ("Wujiaochang", 31.3000, 121.5140),
    ("Hongqiao", 31.1970, 121.3940),
    ("Tianzifang", 31.2100, 121.4690),
    ("North Bund", 31.2510, 121.4940),
    ("Jiaotong University", 31.2010, 121.4330),
    ("Hongkou Football Stadium", 31.2710, 121.4800),
];

const SHENZHEN: &[(&str, f64, f64)] = &[
    ("Futian CBD", 22.5410, 114.0550),
    ("Civic Center", 22.5431, 114.0579),
    ("Huaqiangbei", 22.5450, 114.0850),
    ("Luohu", 22.5420, 114.1180),
    ("Coastal City", 22.5170, 113.9350),
    ("Nanshan Science Park", 22.5400, 113.9530),
    ("Shekou", 22.4840, 113.9140),
    ("OCT", 22.5370, 113.9870),
    ("Bao'an Center", 22.5550, 113.8830),
    ("Longhua", 22.6560, 114.0290),
    ("Shenzhen Bay", 22.5150, 113.9470),
];

/// (name, category, price in fen, day parts) — the menu, best sellers get a low rank below.
const MENU: &[(&str, &str, i64, &[DayPart])] = &[
    (
        "Grape Cheezo",
        "cheese-tea",
        2900,
        &[DayPart::AfternoonTea, DayPart::Evening],
    ),
    ("Mango Cheezo", "cheese-tea", 2900, &[DayPart::AfternoonTea]),
    (
        "Strawberry Cheezo",
        "cheese-tea",
        3200,
        &[DayPart::AfternoonTea],
    ),
    (
        "Peach Oolong Cheezo",
        "cheese-tea",
        2700,
        &[DayPart::AfternoonTea, DayPart::Lunch],
    ),
    (
        "Very Grape",
        "fruit-tea",
        2800,
        &[DayPart::Lunch, DayPart::AfternoonTea],
    ),
    ("Very Mango", "fruit-tea", 2800, &[DayPart::Lunch]),
    (
        "Lemon Green Tea",
        "fruit-tea",
        1900,
        &[DayPart::Lunch, DayPart::Evening],
    ),
    (
        "Passion Fruit Jasmine",
        "fruit-tea",
        2200,
        &[DayPart::Lunch],
    ),
    (
        "Orange Jasmine",
        "fruit-tea",
        2300,
        &[DayPart::Lunch, DayPart::AfternoonTea],
    ),
    (
        "Watermelon Frost",
        "fruit-tea",
        2500,
        &[DayPart::AfternoonTea],
    ),
    ("Grapefruit Jasmine", "fruit-tea", 2400, &[DayPart::Lunch]),
    (
        "Brown Sugar Boba Milk",
        "milk-tea",
        2200,
        &[DayPart::Evening, DayPart::LateNight],
    ),
    (
        "Roasted Oolong Milk Tea",
        "milk-tea",
        1900,
        &[DayPart::Evening],
    ),
    (
        "Taro Milk Tea",
        "milk-tea",
        2100,
        &[DayPart::Evening, DayPart::AfternoonTea],
    ),
    (
        "Jasmine Milk Tea",
        "milk-tea",
        1800,
        &[DayPart::Lunch, DayPart::Evening],
    ),
    ("Coconut Milk Tea", "milk-tea", 2300, &[DayPart::Evening]),
    (
        "Matcha Latte",
        "milk-tea",
        2600,
        &[DayPart::Breakfast, DayPart::AfternoonTea],
    ),
    ("Americano", "coffee", 1500, &[DayPart::Breakfast]),
    ("Oat Latte", "coffee", 2200, &[DayPart::Breakfast]),
    ("Flat White", "coffee", 2300, &[DayPart::Breakfast]),
    (
        "Cold Brew",
        "coffee",
        2000,
        &[DayPart::Breakfast, DayPart::Lunch],
    ),
    (
        "Orange Americano",
        "coffee",
        2100,
        &[DayPart::Breakfast, DayPart::AfternoonTea],
    ),
    (
        "Breakfast Set: Latte + Bun",
        "breakfast-set",
        2500,
        &[DayPart::Breakfast],
    ),
    (
        "Breakfast Set: Soy Milk + Egg Tart",
        "breakfast-set",
        1800,
        &[DayPart::Breakfast],
    ),
    (
        "Breakfast Set: Americano + Croissant",
        "breakfast-set",
        2600,
        &[DayPart::Breakfast],
    ),
    (
        "Pork Floss Bun",
        "bakery",
        1200,
        &[DayPart::Breakfast, DayPart::AfternoonTea],
    ),
    (
        "Egg Tart",
        "bakery",
        900,
        &[DayPart::Breakfast, DayPart::AfternoonTea],
    ),
    (
        "Matcha Mochi Bread",
        "bakery",
        1400,
        &[DayPart::AfternoonTea],
    ),
    ("Croissant", "bakery", 1300, &[DayPart::Breakfast]),
    (
        "Cheese Soft Europe",
        "bakery",
        1800,
        &[DayPart::AfternoonTea, DayPart::Evening],
    ),
    ("Durian Crepe", "bakery", 2800, &[DayPart::AfternoonTea]),
    (
        "Mochi Balls",
        "snack",
        1000,
        &[DayPart::AfternoonTea, DayPart::Evening],
    ),
    (
        "Sweet Potato Fries",
        "snack",
        1500,
        &[DayPart::Evening, DayPart::LateNight],
    ),
    (
        "Chicken Popcorn",
        "snack",
        1800,
        &[DayPart::Evening, DayPart::LateNight],
    ),
    (
        "Seasonal Cherry Cheezo",
        "seasonal",
        3500,
        &[DayPart::AfternoonTea],
    ),
    (
        "Seasonal Lychee Frost",
        "seasonal",
        3000,
        &[DayPart::Lunch, DayPart::AfternoonTea],
    ),
    (
        "Seasonal Osmanthus Oolong",
        "seasonal",
        2600,
        &[DayPart::Evening],
    ),
    (
        "Sparkling Yuzu",
        "fruit-tea",
        2000,
        &[DayPart::Lunch, DayPart::AfternoonTea],
    ),
    ("Black Tea Pudding", "snack", 1200, &[DayPart::AfternoonTea]),
    (
        "Late Night Hot Cocoa",
        "milk-tea",
        2000,
        &[DayPart::LateNight],
    ),
];

const CHANNELS: &[&str] = &[
    "wechat-mini-program",
    "app",
    "store-qr",
    "meituan",
    "referral",
];
const TAGS: &[&str] = &[
    "fruit-lover",
    "coffee-lover",
    "cheese-fan",
    "night-owl",
    "student",
    "office-worker",
    "high-value",
];

/// 2026-03-01T00:00:00+08:00: the demo's "now"; members joined before it.
pub const DEMO_EPOCH: i64 = 1_772_294_400_000;
const DAY_MS: i64 = 86_400_000;

/// Generates the demo data set from `seed` with `members` members.
pub fn generate(seed: u64, members: usize) -> DemoData {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let brand = Brand {
        id: BRAND.into(),
        name: "Leaf & Cup".into(),
        window_days: 365,
        utc_offset_minutes: 480,
    };

    let mut stores = Vec::new();
    for (city, code, places, count) in [
        ("Shanghai", "sh", SHANGHAI, 28),
        ("Shenzhen", "sz", SHENZHEN, 22),
    ] {
        for i in 0..count {
            let (place, lat, lon) = places[i % places.len()];
            let branch = i / places.len();
            // Mall stores open at 10:00, street stores at 07:30, a few run late.
            let (opens, closes) = match i % 5 {
                0 => (10 * 60, 22 * 60),
                4 => (9 * 60, 24 * 60 - 1),
                _ => (7 * 60 + 30, 22 * 60),
            };
            stores.push(Store {
                id: format!("{code}-{:03}", i + 1),
                name: if branch == 0 {
                    format!("Leaf & Cup {place}")
                } else {
                    format!("Leaf & Cup {place} {}", branch + 1)
                },
                city: city.into(),
                location: GeoPoint {
                    lat: lat + rng.random_range(-0.006..0.006),
                    lon: lon + rng.random_range(-0.006..0.006),
                },
                opens_at_minute: opens,
                closes_at_minute: closes,
            });
        }
    }

    let mut ranks: Vec<u32> = (1..=MENU.len() as u32).collect();
    for i in (1..ranks.len()).rev() {
        ranks.swap(i, rng.random_range(0..=i));
    }
    let products: Vec<Product> = MENU
        .iter()
        .zip(ranks)
        .enumerate()
        .map(
            |(i, (&(name, category, price, parts), sales_rank))| Product {
                id: format!("p-{:02}", i + 1),
                name: name.into(),
                category: category.into(),
                price,
                sales_rank,
                day_parts: parts.to_vec(),
            },
        )
        .collect();

    let mut stock = Vec::new();
    for store in &stores {
        for product in &products {
            // One in ten sells out; best sellers are stocked deeper.
            let quantity = if rng.random_bool(0.1) {
                0
            } else {
                rng.random_range(3..40) + 60 / product.sales_rank
            };
            stock.push(Stock {
                store_id: store.id.clone(),
                product_id: product.id.clone(),
                quantity,
            });
        }
    }

    let members = (1..=members)
        .map(|n| {
            let joined_at = DEMO_EPOCH - rng.random_range(1..3 * 365) * DAY_MS;
            let orders: u32 = rng.random_range(0..60);
            let spend = i64::from(orders) * rng.random_range(1500..4500);
            let tier = match spend {
                s if s >= 200_000 => "black",
                s if s >= 50_000 => "gold",
                _ => "green",
            };
            let mut tags: Vec<String> = TAGS
                .iter()
                .filter(|_| rng.random_bool(0.15))
                .map(|t| t.to_string())
                .collect();
            if spend >= 150_000 && !tags.iter().any(|t| t == "high-value") {
                tags.push("high-value".into());
            }
            MemberProfile {
                id: format!("m-{n:05}"),
                tier: Some(tier.into()),
                joined_at: Some(joined_at),
                birth_date: Some(Date {
                    year: rng.random_range(1970..2008),
                    month: rng.random_range(1..=12),
                    day: rng.random_range(1..=28),
                }),
                city: Some(
                    if rng.random_bool(0.55) {
                        "Shanghai"
                    } else {
                        "Shenzhen"
                    }
                    .into(),
                ),
                channel: Some(CHANNELS[rng.random_range(0..CHANNELS.len())].into()),
                tags,
                paid_plan: rng.random_bool(0.04).then(|| PaidPlan {
                    plan: "plus".into(),
                    tier_floor: "gold".into(),
                    expires_at: DEMO_EPOCH + rng.random_range(30..365) * DAY_MS,
                }),
                opening_points: spend / 100 / 2,
                lifetime: Some(Activity {
                    spend,
                    orders,
                    points_earned: spend / 100,
                }),
                ..MemberProfile::default()
            }
        })
        .collect();

    DemoData {
        brand,
        stores,
        products,
        stock,
        members,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_and_realistic_shape() {
        let (a, b) = (generate(7, 200), generate(7, 200));
        assert_eq!(a.stores, b.stores);
        assert_eq!(a.members, b.members);
        assert_eq!(a.stores.len(), 50);
        let mut ids: Vec<&str> = a.stores.iter().map(|s| s.id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 50, "store ids are unique");
        assert_eq!(a.products.len(), 40);
        assert_eq!(a.stock.len(), 50 * 40);
        assert!(a.stock.iter().any(|s| s.quantity == 0) && a.stock.iter().any(|s| s.quantity > 30));
        let mut ranks: Vec<u32> = a.products.iter().map(|p| p.sales_rank).collect();
        ranks.sort();
        assert_eq!(ranks, (1..=40).collect::<Vec<_>>());
        assert!(a.members.iter().any(|m| m.tier.as_deref() == Some("gold")));
        assert_ne!(generate(8, 200).members, a.members);
    }
}
