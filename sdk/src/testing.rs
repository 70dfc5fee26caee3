//! Unit-test rules natively, without Wasm and without a platform.
//!
//! [`FakeHost`] plays the platform: a member, stores, stock, a catalog and a configuration,
//! built in code or loaded from a JSON [`Fixture`]. Call a rule through it and assert on the
//! effects or answer it returns:
//!
//! ```
//! use rulebox_sdk::prelude::*;
//! use rulebox_sdk::testing::{FakeHost, event, member, sign_up};
//!
//! struct Hello;
//! impl Rule for Hello {
//!     type Config = ();
//!     fn describe() -> Description {
//!         Description::new("hello", "0.1.0", "Tags new members.").handles(EventType::SignUp)
//!     }
//!     fn on_event(ctx: &Context, _: &(), _event: &Event) -> Result<Vec<Effect>, RuleError> {
//!         Ok(vec![Effect::tag(format!("joined-as-{}", ctx.member().tier))])
//!     }
//! }
//!
//! let host = FakeHost::new(member("m-1").with_tier("green"));
//! let effects = host.on_event::<Hello>(&event("e-1", "m-1", 0, sign_up("app"))).unwrap();
//! assert_eq!(effects, vec![Effect::tag("joined-as-green")]);
//! ```
//!
//! The same fixture files run against the compiled plugin with `rulebox test`, so one set of
//! cases checks both the Rust logic and the built component.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::geo::distance_m;
use crate::{
    Activity, Answer, Attribute, Context, Date, Effect, Event, EventKind, GeoPoint, HeldCoupon,
    Host, LineItem, LogLevel, MemberField, MemberView, Money, PaidPlan, Points, Product,
    ProductCount, Purchase, Query, Rule, RuleError, SignUp, StockLevel, StoreInfo, Tick, Timestamp,
};

/// The brand every test builder uses.
pub const TEST_BRAND: &str = "test-brand";

// ----- builders ---------------------------------------------------------------------------

/// A member with no history: tier "base", no points, no tags, joined at time 0.
pub fn member(id: &str) -> MemberView {
    MemberView::blank(id)
}

impl MemberView {
    /// Test builder: sets the tier.
    pub fn with_tier(mut self, tier: &str) -> Self {
        self.tier = tier.to_owned();
        self
    }
    /// Test builder: sets the points balance.
    pub fn with_points(mut self, points: Points) -> Self {
        self.points = points;
        self
    }
    /// Test builder: adds tags.
    pub fn with_tags<'a>(mut self, tags: impl IntoIterator<Item = &'a str>) -> Self {
        self.tags.extend(tags.into_iter().map(str::to_owned));
        self
    }
    /// Test builder: sets the join time.
    pub fn with_joined_at(mut self, at: Timestamp) -> Self {
        self.joined_at = at;
        self
    }
    /// Test builder: sets the birth date.
    pub fn with_birth_date(mut self, year: i32, month: u8, day: u8) -> Self {
        self.birth_date = Some(Date { year, month, day });
        self
    }
    /// Test builder: sets lifetime and rolling-window activity to the same figures.
    pub fn with_activity(mut self, spend: Money, orders: u32, points_earned: Points) -> Self {
        self.lifetime = Activity {
            spend,
            orders,
            points_earned,
        };
        self.window = self.lifetime;
        self
    }
    /// Test builder: sets the rolling-window activity only.
    pub fn with_window(mut self, spend: Money, orders: u32, points_earned: Points) -> Self {
        self.window = Activity {
            spend,
            orders,
            points_earned,
        };
        self
    }
    /// Test builder: sets today's activity (for daily caps).
    pub fn with_today(mut self, spend: Money, orders: u32, points_earned: Points) -> Self {
        self.today = Activity {
            spend,
            orders,
            points_earned,
        };
        self
    }
    /// Test builder: records that the member bought `quantity` of a product.
    pub fn with_favourite(
        mut self,
        product_id: &str,
        category: &str,
        quantity: u32,
        last_at: Timestamp,
    ) -> Self {
        self.favourites.push(ProductCount {
            product_id: product_id.to_owned(),
            category: category.to_owned(),
            quantity,
            last_at,
        });
        self
    }
    /// Test builder: gives the member a coupon.
    pub fn with_coupon(
        mut self,
        id: &str,
        template_id: &str,
        valid_from: Timestamp,
        valid_until: Timestamp,
        uses: u32,
    ) -> Self {
        self.coupons.push(HeldCoupon {
            id: id.to_owned(),
            template_id: template_id.to_owned(),
            valid_from,
            valid_until,
            uses,
        });
        self
    }
    /// Test builder: puts the member on a paid plan.
    pub fn with_paid_plan(mut self, plan: &str, tier_floor: &str, expires_at: Timestamp) -> Self {
        self.paid_plan = Some(PaidPlan {
            plan: plan.to_owned(),
            tier_floor: tier_floor.to_owned(),
            expires_at,
        });
        self
    }
    /// Test builder: sets the city.
    pub fn with_city(mut self, city: &str) -> Self {
        self.city = Some(city.to_owned());
        self
    }
    /// Test builder: sets a brand-defined attribute.
    pub fn with_attribute(mut self, key: &str, value: &str) -> Self {
        self.attributes.retain(|a| a.key != key);
        self.attributes.push(Attribute {
            key: key.to_owned(),
            value: value.to_owned(),
        });
        self
    }
}

/// An event of [`TEST_BRAND`].
pub fn event(id: &str, member_id: &str, occurred_at: Timestamp, kind: EventKind) -> Event {
    Event {
        id: id.to_owned(),
        brand: TEST_BRAND.to_owned(),
        member_id: member_id.to_owned(),
        occurred_at,
        kind,
    }
}

/// A sign-up through `channel`, with no inviter.
pub fn sign_up(channel: &str) -> EventKind {
    EventKind::SignUp(SignUp {
        channel: channel.to_owned(),
        inviter: None,
        staff_id: None,
    })
}

/// A purchase of `lines` at `store_id`, paid in full (`paid == total`).
pub fn purchase(order_id: &str, store_id: &str, lines: Vec<LineItem>) -> EventKind {
    let total = lines.iter().filter_map(LineItem::amount).sum();
    EventKind::Purchase(Purchase {
        order_id: order_id.to_owned(),
        store_id: store_id.to_owned(),
        lines,
        total,
        paid: total,
        coupons_used: Vec::new(),
    })
}

/// One order line.
pub fn line(product_id: &str, category: &str, quantity: u32, unit_price: Money) -> LineItem {
    LineItem {
        product_id: product_id.to_owned(),
        category: category.to_owned(),
        quantity,
        unit_price,
    }
}

/// A scheduled tick of `schedule`.
pub fn tick(schedule: &str) -> EventKind {
    EventKind::ScheduledTick(Tick {
        schedule: schedule.to_owned(),
    })
}

/// A store in a fake host or fixture. `open` is what `open-now` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FakeStore {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub city: String,
    pub location: GeoPoint,
    #[serde(default = "yes")]
    pub open: bool,
}

fn yes() -> bool {
    true
}

/// Units of one product at one store, in a fake host or fixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FakeStock {
    pub store_id: String,
    pub product_id: String,
    pub quantity: u32,
}

/// A line a rule logged through [`Context::log`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
    pub fields: Vec<Attribute>,
}

// ----- the fake host ----------------------------------------------------------------------

/// The platform, faked: answers a rule's host calls from data set up by the test.
pub struct FakeHost {
    member: MemberView,
    /// The member fields the rule being run declares; the rest read as empty, as on the
    /// platform.
    reads: RefCell<Option<Vec<MemberField>>>,
    stores: Vec<FakeStore>,
    stock: BTreeMap<(String, String), u32>,
    products: Vec<Product>,
    config: String,
    seed: u64,
    logs: RefCell<Vec<LogLine>>,
}

impl FakeHost {
    /// A host for `member` with no stores, stock or catalog and an empty configuration.
    pub fn new(member: MemberView) -> Self {
        FakeHost {
            member,
            reads: RefCell::new(None),
            stores: Vec::new(),
            stock: BTreeMap::new(),
            products: Vec::new(),
            config: "{}".to_owned(),
            seed: 0,
            logs: RefCell::new(Vec::new()),
        }
    }

    /// Sets the rule's configuration.
    pub fn with_config(mut self, config: Value) -> Self {
        self.config = config.to_string();
        self
    }

    /// Adds a store.
    pub fn with_store(mut self, store: FakeStore) -> Self {
        self.stores.push(store);
        self
    }

    /// Adds a catalog entry.
    pub fn with_product(mut self, product: Product) -> Self {
        self.products.push(product);
        self
    }

    /// Sets the units of `product_id` on hand at `store_id`.
    pub fn with_stock(mut self, store_id: &str, product_id: &str, quantity: u32) -> Self {
        self.stock
            .insert((store_id.to_owned(), product_id.to_owned()), quantity);
        self
    }

    /// Sets the seed the rule reads.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The member the host serves (after builders).
    pub fn member(&self) -> &MemberView {
        &self.member
    }

    /// A [`Context`] over this host, for calling rule helpers directly.
    pub fn context(&self) -> Context<'_> {
        Context::new(self)
    }

    /// Runs `R`'s event handler, as the platform would: only for event kinds `R` declares,
    /// and showing it only the member fields it declares.
    pub fn on_event<R: Rule>(&self, event: &Event) -> Result<Vec<Effect>, RuleError> {
        let kind = event.kind.event_type();
        let description = R::describe();
        *self.reads.borrow_mut() = Some(description.reads.clone());
        if !description.events.contains(&kind) {
            return Err(RuleError::unsupported(format!(
                "the rule does not declare {kind:?} events in describe(); the platform would not send this one"
            )));
        }
        R::run_event(&self.context(), event)
    }

    /// Runs `R`'s query handler, as the platform would: only for query kinds `R` declares,
    /// and showing it only the member fields it declares.
    pub fn on_query<R: Rule>(&self, query: &Query) -> Result<Answer, RuleError> {
        let kind = query.kind.query_type();
        let description = R::describe();
        *self.reads.borrow_mut() = Some(description.reads.clone());
        if !description.queries.contains(&kind) {
            return Err(RuleError::unsupported(format!(
                "the rule does not declare {kind:?} queries in describe(); the platform would not send this one"
            )));
        }
        R::run_query(&self.context(), query)
    }

    /// Every line the rule logged so far.
    pub fn logs(&self) -> Vec<LogLine> {
        self.logs.borrow().clone()
    }
}

impl Host for FakeHost {
    fn member(&self) -> MemberView {
        match &*self.reads.borrow() {
            Some(reads) => self.member.clone().only(reads),
            None => self.member.clone(),
        }
    }

    fn stores_near(&self, at: GeoPoint, radius_m: u32, limit: u32) -> Vec<StoreInfo> {
        let stores = self.stores.iter().map(|s| StoreInfo {
            id: s.id.clone(),
            name: s.name.clone(),
            city: s.city.clone(),
            location: s.location,
            distance_m: distance_m(at, s.location),
            open_now: s.open,
        });
        StoreInfo::nearest_first(stores, radius_m, limit)
    }

    fn stock(&self, store_id: &str, product_ids: &[String]) -> Vec<StockLevel> {
        if !self.stores.iter().any(|s| s.id == store_id) {
            return Vec::new();
        }
        let level = |product_id: &str| StockLevel {
            product_id: product_id.to_owned(),
            quantity: self
                .stock
                .get(&(store_id.to_owned(), product_id.to_owned()))
                .copied()
                .unwrap_or(0),
        };
        if product_ids.is_empty() {
            self.stock
                .keys()
                .filter(|(store, _)| store == store_id)
                .map(|(_, product)| level(product))
                .collect()
        } else {
            product_ids.iter().map(|p| level(p)).collect()
        }
    }

    fn products(&self, ids: &[String]) -> Vec<Product> {
        if ids.is_empty() {
            return self.products.clone();
        }
        ids.iter()
            .filter_map(|id| self.products.iter().find(|p| &p.id == id).cloned())
            .collect()
    }

    fn config(&self) -> String {
        self.config.clone()
    }

    fn seed(&self) -> u64 {
        self.seed
    }

    fn log(&self, level: LogLevel, message: &str, fields: &[Attribute]) {
        self.logs.borrow_mut().push(LogLine {
            level,
            message: message.to_owned(),
            fields: fields.to_vec(),
        });
    }
}

// ----- fixtures ---------------------------------------------------------------------------

/// What a rule returned, or is expected to return, for one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The effects of an event, in order.
    Effects(Vec<Effect>),
    /// The answer to a query.
    Answer(Answer),
    /// A rule error. As an expectation, the message matches any actual message containing it.
    Error(RuleError),
}

impl Outcome {
    /// Whether this actual outcome satisfies `expected`.
    pub fn satisfies(&self, expected: &Outcome) -> bool {
        match (self, expected) {
            (Outcome::Error(actual), Outcome::Error(wanted)) => {
                let (a, w) = (error_parts(actual), error_parts(wanted));
                a.0 == w.0 && a.1.contains(w.1)
            }
            _ => self == expected,
        }
    }

    /// A line diff of `expected` against this outcome, as pretty JSON.
    pub fn diff(&self, expected: &Outcome) -> String {
        let pretty = |o: &Outcome| serde_json::to_string_pretty(o).unwrap_or_default() + "\n";
        let (old, new) = (pretty(expected), pretty(self));
        similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .header("expected", "actual")
            .to_string()
    }
}

impl From<Result<Vec<Effect>, RuleError>> for Outcome {
    fn from(result: Result<Vec<Effect>, RuleError>) -> Self {
        result.map_or_else(Outcome::Error, Outcome::Effects)
    }
}

impl From<Result<Answer, RuleError>> for Outcome {
    fn from(result: Result<Answer, RuleError>) -> Self {
        result.map_or_else(Outcome::Error, Outcome::Answer)
    }
}

fn error_parts(error: &RuleError) -> (&'static str, &str) {
    match error {
        RuleError::InvalidConfig(m) => ("invalid-config", m),
        RuleError::InvalidInput(m) => ("invalid-input", m),
        RuleError::Unsupported(m) => ("unsupported", m),
        RuleError::Internal(m) => ("internal", m),
    }
}

/// What a fixture case feeds the rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    Event(Event),
    Query(Query),
}

/// One test case as JSON: the world the rule sees, one event or query, and the expected
/// outcome. The same files drive native tests ([`Fixture::check`]) and `rulebox test` on the
/// compiled plugin.
///
/// ```json
/// {
///   "name": "sign-up earns the default bonus",
///   "member": { "tier": "green" },
///   "config": { "bonus": 100 },
///   "event": { "id": "e-1", "brand": "demo", "member_id": "m-1", "occurred_at": 0,
///              "kind": { "SignUp": { "channel": "app", "inviter": null, "staff_id": null } } },
///   "expect": { "effects": [ { "AwardPoints": { "amount": 100, "reason": "welcome", "expires_at": null } } ] }
/// }
/// ```
///
/// `member` lists only the fields that differ from [`member`]'s defaults; its `id` defaults
/// to the event's or query's member id. `stores`, `products`, `stock`, `config` and `seed`
/// may be left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fixture {
    /// Shown in test reports.
    pub name: String,
    #[serde(default)]
    pub member: serde_json::Map<String, Value>,
    #[serde(default)]
    pub stores: Vec<FakeStore>,
    #[serde(default)]
    pub products: Vec<Product>,
    #[serde(default)]
    pub stock: Vec<FakeStock>,
    #[serde(default = "empty_object")]
    pub config: Value,
    #[serde(default)]
    pub seed: u64,
    #[serde(flatten)]
    pub input: Input,
    pub expect: Outcome,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Why fixtures could not be loaded.
#[derive(Debug)]
pub struct FixtureError(String);

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FixtureError {}

impl Fixture {
    /// Loads the cases in a fixture file: a JSON array of cases, or a single case.
    pub fn load(path: impl AsRef<Path>) -> Result<Vec<Fixture>, FixtureError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            FixtureError(format!("cannot read fixture file {}: {e}", path.display()))
        })?;
        Self::parse(&text)
            .map_err(|e| FixtureError(format!("fixture file {}: {e}", path.display())))
    }

    /// Parses fixture cases from JSON text (an array of cases, or a single case).
    pub fn parse(text: &str) -> Result<Vec<Fixture>, FixtureError> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            Many(Vec<Fixture>),
            One(Box<Fixture>),
        }
        let parsed: OneOrMany = serde_json::from_str(text).map_err(|e| {
            FixtureError(format!(
                "not a fixture case or list of cases ({e}); see rulebox_sdk::testing::Fixture for the format"
            ))
        })?;
        Ok(match parsed {
            OneOrMany::Many(cases) => cases,
            OneOrMany::One(case) => vec![*case],
        })
    }

    /// The member id the case is about.
    pub fn member_id(&self) -> &str {
        match &self.input {
            Input::Event(e) => &e.member_id,
            Input::Query(q) => &q.member_id,
        }
    }

    /// The member the case describes: the defaults of [`member`] overlaid with the fixture's
    /// fields.
    pub fn member_view(&self) -> Result<MemberView, FixtureError> {
        let mut merged = serde_json::to_value(member(self.member_id()))
            .map_err(|e| FixtureError(e.to_string()))?;
        if let Value::Object(fields) = &mut merged {
            fields.extend(self.member.clone());
        }
        serde_json::from_value(merged)
            .map_err(|e| FixtureError(format!("case '{}': member is not valid: {e}", self.name)))
    }

    /// A fake host holding the case's world.
    pub fn host(&self) -> Result<FakeHost, FixtureError> {
        let mut host = FakeHost::new(self.member_view()?)
            .with_config(self.config.clone())
            .with_seed(self.seed);
        host.stores = self.stores.clone();
        host.products = self.products.clone();
        for s in &self.stock {
            host = host.with_stock(&s.store_id, &s.product_id, s.quantity);
        }
        Ok(host)
    }

    /// Runs the case natively against `R` and returns what it produced.
    pub fn run<R: Rule>(&self) -> Result<Outcome, FixtureError> {
        let host = self.host()?;
        Ok(match &self.input {
            Input::Event(event) => host.on_event::<R>(event).into(),
            Input::Query(query) => host.on_query::<R>(query).into(),
        })
    }

    /// Runs every case in `path` against `R`, panicking with a diff for each case that fails.
    /// Use it in a `#[test]` to keep native tests and `rulebox test` on the same cases.
    pub fn check<R: Rule>(path: impl AsRef<Path>) {
        let cases = Self::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !cases.is_empty(),
            "{} holds no cases",
            path.as_ref().display()
        );
        let failures: Vec<String> = cases
            .iter()
            .filter_map(|case| {
                let actual = case.run::<R>().unwrap_or_else(|e| panic!("{e}"));
                (!actual.satisfies(&case.expect)).then(|| {
                    format!(
                        "case '{}' failed:\n{}",
                        case.name,
                        actual.diff(&case.expect)
                    )
                })
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
