//! Members: profile, record, ledger pages and coupons held. Scope `members`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{BrandAccess, JsonBody, MembersScope, Params};
use super::{AppState, Table, blocking, spec};
use rulebox_engine::auth::Scope;
use rulebox_store::model::{LedgerEntry, Member, MemberProfile};
use rulebox_world::HeldCoupon;

/// Ledger entries per page unless `limit` says otherwise.
pub const DEFAULT_PAGE: usize = 100;
/// Most ledger entries per page.
pub const MAX_PAGE: usize = 1000;

async fn put_member(
    State(state): State<AppState>,
    access: BrandAccess<MembersScope>,
    Params((_, id)): Params<(String, String)>,
    JsonBody(mut profile): JsonBody<MemberProfile>,
) -> Result<Json<Member>, ApiError> {
    if profile.id.is_empty() {
        profile.id = id.clone();
    }
    if profile.id != id {
        return Err(ApiError::bad_request(
            "id-mismatch",
            format!(
                "the body's id is {:?} but the path's is {id:?}; leave id out of the body or make them equal",
                profile.id
            ),
        ));
    }
    let member = blocking(&state, move |rb| Ok(rb.put_member(&access.brand, profile)?)).await?;
    Ok(Json(member))
}

/// `PUT …/members`: many profiles at once (imports), up to [`super::MAX_BATCH`].
async fn put_members(
    State(state): State<AppState>,
    access: BrandAccess<MembersScope>,
    JsonBody(profiles): JsonBody<Vec<MemberProfile>>,
) -> Result<Json<super::Count>, ApiError> {
    if profiles.len() > super::MAX_BATCH {
        return Err(ApiError::bad_request(
            "batch-too-large",
            format!(
                "{} members is more than the {} one request may hold; split them",
                profiles.len(),
                super::MAX_BATCH
            ),
        ));
    }
    if let Some(i) = profiles.iter().position(|p| p.id.is_empty()) {
        return Err(ApiError::bad_request(
            "missing-id",
            format!("member #{} has no id; give every member an id", i + 1),
        ));
    }
    let count = blocking(&state, move |rb| {
        Ok(rb.put_members(&access.brand, profiles)?)
    })
    .await?;
    Ok(Json(super::Count { count }))
}

async fn get_member(
    State(state): State<AppState>,
    access: BrandAccess<MembersScope>,
    Params((_, id)): Params<(String, String)>,
) -> Result<Json<Member>, ApiError> {
    Ok(Json(
        blocking(&state, move |rb| Ok(rb.member(&access.brand, &id)?)).await?,
    ))
}

/// Query of the ledger route.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct LedgerParams {
    /// Entries after this sequence number (the `next_after` of the previous page).
    after: Option<u64>,
    limit: Option<usize>,
}

/// A page of a ledger.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct LedgerPage {
    items: Vec<LedgerEntry>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_after: Option<u64>,
}

async fn ledger(
    State(state): State<AppState>,
    access: BrandAccess<MembersScope>,
    Params((_, id)): Params<(String, String)>,
    params: Result<Query<LedgerParams>, QueryRejection>,
) -> Result<Json<LedgerPage>, ApiError> {
    let Query(params) = params.map_err(|e| {
        ApiError::bad_request(
            "invalid-query",
            format!("{}; use ?after=<seq>&limit=<1..={MAX_PAGE}>", e.body_text()),
        )
    })?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid-query",
            format!("limit {limit} is out of range; use 1 to {MAX_PAGE}"),
        ));
    }
    let page = blocking(&state, move |rb| {
        rb.member(&access.brand, &id)?;
        // One more than asked tells whether another page follows.
        let mut items = rb.ledger(&access.brand, &id, params.after, limit + 1)?;
        let more = items.len() > limit;
        items.truncate(limit);
        let next_after = if more {
            items.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(LedgerPage { items, next_after })
    })
    .await?;
    Ok(Json(page))
}

async fn coupons(
    State(state): State<AppState>,
    access: BrandAccess<MembersScope>,
    Params((_, id)): Params<(String, String)>,
) -> Result<Json<super::Items<HeldCoupon>>, ApiError> {
    let coupons: Vec<HeldCoupon> = blocking(&state, move |rb| {
        rb.member(&access.brand, &id)
            .map(|m| m.coupons)
            .map_err(ApiError::from)
    })
    .await?;
    Ok(Json(super::Items { items: coupons }))
}

pub(super) fn routes(table: Table) -> Table {
    let members = Some(Scope::Members);
    table
        .add(
            &[spec("PUT", "/v1/brands/{brand}/members", members, 200, "members", "Create or update up to 1000 members at once (body: array of MemberProfile); new members get their opening_points and lifetime, existing ones keep points and history.").takes::<Vec<MemberProfile>>().answers::<super::Count>()],
            axum::routing::put(put_members),
        )
        .add(
            &[
                spec("PUT", "/v1/brands/{brand}/members/{id}", members, 200, "members", "Create a member or update their profile (body: MemberProfile; points and history are kept).").takes::<MemberProfile>().answers::<Member>(),
                spec("GET", "/v1/brands/{brand}/members/{id}", members, 200, "members", "A member's record.").answers::<Member>(),
            ],
            get(get_member).put(put_member),
        )
        .add(
            &[spec("GET", "/v1/brands/{brand}/members/{id}/ledger", members, 200, "members", "A page of a member's points ledger (?after=<seq>&limit=<n>); next_after gives the next page.").answers::<LedgerPage>()],
            get(ledger),
        )
        .add(
            &[spec("GET", "/v1/brands/{brand}/members/{id}/coupons", members, 200, "members", "The coupons a member holds.").answers::<super::Items<HeldCoupon>>()],
            get(coupons),
        )
}
