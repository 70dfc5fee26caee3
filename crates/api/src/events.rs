//! Events (ingest, batch, dry run) and queries (coupons, recommendations): scope `events`.
//!
//! The event body is the host's `Event` as serde writes it (the shape of the plugins'
//! fixtures). An event is applied once per id: a repeat answers 200 with the stored outcome
//! and `duplicate: true`; a new event answers 201.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{BrandAccess, EventsScope, JsonBody};
use super::{AppState, Table, blocking, spec};
use rulebox_engine::auth::Scope;
use rulebox_engine::pipeline::{EventOutcome, QueryOutcome};
use rulebox_world::{Cart, Event, Place, Query, QueryKind, Timestamp};

/// Most events in one batch.
pub const MAX_BATCH: usize = 1000;

fn same_brand(brand: &str, event: &Event) -> Result<(), ApiError> {
    if event.brand != brand {
        return Err(ApiError::bad_request(
            "brand-mismatch",
            format!(
                "the event's brand is {:?} but the path's is {brand:?}; send it to /v1/brands/{}/events",
                event.brand, event.brand
            ),
        ));
    }
    Ok(())
}

fn event_status(outcome: &EventOutcome) -> StatusCode {
    if outcome.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    }
}

async fn ingest(
    State(state): State<AppState>,
    access: BrandAccess<EventsScope>,
    JsonBody(event): JsonBody<Event>,
) -> Result<Response, ApiError> {
    same_brand(&access.brand, &event)?;
    let metrics = state.metrics.clone();
    let outcome = blocking(&state, move |rb| {
        let result = rb.ingest(event);
        metrics.event(&result);
        Ok(result?)
    })
    .await?;
    Ok((event_status(&outcome), Json(outcome)).into_response())
}

/// One item of a batch answer: the outcome or the error, with the status it would have had
/// on its own.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct BatchItem {
    index: usize,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<EventOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
}

async fn batch(
    State(state): State<AppState>,
    access: BrandAccess<EventsScope>,
    JsonBody(events): JsonBody<Vec<Event>>,
) -> Result<Json<super::Items<BatchItem>>, ApiError> {
    if events.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            "batch-too-large",
            format!(
                "{} events is more than the {MAX_BATCH} a batch may hold; split it",
                events.len()
            ),
        ));
    }
    let metrics = state.metrics.clone();
    let request_id = super::error::request_id();
    let items = blocking(&state, move |rb| {
        // Events of another brand are refused here; the others go in as one batch that
        // shares a single flush (each still applied atomically and exactly once).
        let (mut checked, mut valid) = (Vec::new(), Vec::new());
        for event in events {
            match same_brand(&access.brand, &event) {
                Ok(()) => {
                    checked.push(None);
                    valid.push(event);
                }
                Err(error) => checked.push(Some(error)),
            }
        }
        let mut results = rb.ingest_all(valid).into_iter();
        let items = checked
            .into_iter()
            .enumerate()
            .map(|(index, refused)| {
                let result = match refused {
                    Some(error) => Err(error),
                    None => {
                        let result = results.next().expect("one result per valid event");
                        metrics.event(&result);
                        result.map_err(ApiError::from)
                    }
                };
                match result {
                    Ok(outcome) => BatchItem {
                        index,
                        status: event_status(&outcome).as_u16(),
                        outcome: Some(outcome),
                        error: None,
                    },
                    Err(error) => {
                        let mut body = error.body();
                        body["error"]["request_id"] = request_id.clone().into();
                        BatchItem {
                            index,
                            status: error.status.as_u16(),
                            outcome: None,
                            error: Some(body["error"].take()),
                        }
                    }
                }
            })
            .collect::<Vec<_>>();
        Ok(items)
    })
    .await?;
    Ok(Json(super::Items { items }))
}

async fn dry_run(
    State(state): State<AppState>,
    access: BrandAccess<EventsScope>,
    JsonBody(event): JsonBody<Event>,
) -> Result<Json<EventOutcome>, ApiError> {
    same_brand(&access.brand, &event)?;
    let outcome = blocking(&state, move |rb| Ok(rb.dry_run(event)?)).await?;
    Ok(Json(outcome))
}

/// Body of `POST …/queries/coupons`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CouponQuery {
    member_id: String,
    at: Timestamp,
    cart: Cart,
}

/// Body of `POST …/queries/recommendations`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RecommendationQuery {
    member_id: String,
    at: Timestamp,
    place: Place,
}

async fn run_query(state: &AppState, query: Query) -> Result<Json<QueryOutcome>, ApiError> {
    Ok(Json(blocking(state, move |rb| Ok(rb.query(query)?)).await?))
}

async fn coupons(
    State(state): State<AppState>,
    access: BrandAccess<EventsScope>,
    JsonBody(body): JsonBody<CouponQuery>,
) -> Result<Json<QueryOutcome>, ApiError> {
    let query = Query {
        brand: access.brand,
        member_id: body.member_id,
        at: body.at,
        kind: QueryKind::CouponEligibility(body.cart),
    };
    run_query(&state, query).await
}

async fn recommendations(
    State(state): State<AppState>,
    access: BrandAccess<EventsScope>,
    JsonBody(body): JsonBody<RecommendationQuery>,
) -> Result<Json<QueryOutcome>, ApiError> {
    let query = Query {
        brand: access.brand,
        member_id: body.member_id,
        at: body.at,
        kind: QueryKind::Recommendation(body.place),
    };
    run_query(&state, query).await
}

pub(super) fn routes(table: Table) -> Table {
    let events = Some(Scope::Events);
    table
        .add(
            &[spec("POST", "/v1/brands/{brand}/events", events, 201, "events", "Ingest one event (201 new; 200 with duplicate: true for a repeated id; 422 if a plugin aborted it).").takes::<Event>().answers::<EventOutcome>()],
            post(ingest),
        )
        .add(
            &[spec("POST", "/v1/brands/{brand}/events:batch", events, 200, "events", "Ingest up to 1000 events in order; items[i] holds each one's outcome or error and status.").takes::<Vec<Event>>().answers::<super::Items<BatchItem>>()],
            post(batch),
        )
        .add(
            &[spec("POST", "/v1/brands/{brand}/events:dry-run", events, 200, "events", "Evaluate an event as ingest would, committing nothing.").takes::<Event>().answers::<EventOutcome>()],
            post(dry_run),
        )
        .add(
            &[spec("POST", "/v1/brands/{brand}/queries/coupons", events, 200, "queries", "Which coupons fit a cart (body: member_id, at, cart).").takes::<CouponQuery>().answers::<QueryOutcome>()],
            post(coupons),
        )
        .add(
            &[spec("POST", "/v1/brands/{brand}/queries/recommendations", events, 200, "queries", "What to offer a member at a place (body: member_id, at, place).").takes::<RecommendationQuery>().answers::<QueryOutcome>()],
            post(recommendations),
        )
}
