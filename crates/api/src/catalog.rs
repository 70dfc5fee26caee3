//! The brand's catalog: stores, products and stock, written in bulk. Scope `members`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};

use super::error::ApiError;
use super::extract::{BrandAccess, JsonBody, MembersScope, Params};
use super::{AppState, Count, Items, Table, blocking, spec};
use rulebox_engine::auth::Scope;
use rulebox_store::Db;
use rulebox_store::model::{Stock, Store};
use rulebox_world::Product;

async fn put_stores(
    State(state): State<AppState>,
    access: BrandAccess<MembersScope>,
    JsonBody(stores): JsonBody<Vec<Store>>,
) -> Result<Json<Count>, ApiError> {
    let count = stores.len();
    blocking(&state, move |rb| Ok(rb.put_stores(&access.brand, &stores)?)).await?;
    Ok(Json(Count { count }))
}

async fn get_stores(
    State(state): State<AppState>,
    access: BrandAccess<MembersScope>,
) -> Result<Json<Items<Store>>, ApiError> {
    let stores = blocking(&state, move |rb| Ok(rb.db().stores(&access.brand)?)).await?;
    Ok(Json(Items { items: stores }))
}

async fn put_products(
    State(state): State<AppState>,
    access: BrandAccess<MembersScope>,
    JsonBody(products): JsonBody<Vec<Product>>,
) -> Result<Json<Count>, ApiError> {
    let count = products.len();
    blocking(&state, move |rb| {
        Ok(rb.put_products(&access.brand, &products)?)
    })
    .await?;
    Ok(Json(Count { count }))
}

async fn get_products(
    State(state): State<AppState>,
    access: BrandAccess<MembersScope>,
) -> Result<Json<Items<Product>>, ApiError> {
    let products = blocking(&state, move |rb| Ok(rb.db().products(&access.brand)?)).await?;
    Ok(Json(Items { items: products }))
}

async fn put_stock(
    State(state): State<AppState>,
    access: BrandAccess<MembersScope>,
    JsonBody(stock): JsonBody<Vec<Stock>>,
) -> Result<Json<Count>, ApiError> {
    let count = stock.len();
    blocking(&state, move |rb| {
        for s in &stock {
            if rb
                .db()
                .get::<Store>(&Db::store_key(&access.brand, &s.store_id))?
                .is_none()
            {
                return Err(ApiError::bad_request(
                    "unknown-store",
                    format!(
                        "stock names store {:?}, which the brand does not have; PUT the store first",
                        s.store_id
                    ),
                ));
            }
        }
        Ok(rb.put_stock(&access.brand, &stock)?)
    })
    .await?;
    Ok(Json(Count { count }))
}

async fn get_stock(
    State(state): State<AppState>,
    access: BrandAccess<MembersScope>,
    Params((_, store)): Params<(String, String)>,
) -> Result<Json<Items<Stock>>, ApiError> {
    let stock = blocking(&state, move |rb| {
        if rb
            .db()
            .get::<Store>(&Db::store_key(&access.brand, &store))?
            .is_none()
        {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown-store",
                format!(
                    "no store {store}; PUT /v1/brands/{}/stores first",
                    access.brand
                ),
            ));
        }
        Ok(rb.db().stock(&access.brand, &store)?)
    })
    .await?;
    Ok(Json(Items { items: stock }))
}

pub(super) fn routes(table: Table) -> Table {
    let members = Some(Scope::Members);
    table
        .add(
            &[
                spec("PUT", "/v1/brands/{brand}/stores", members, 200, "catalog", "Add or replace stores (body: array of Store).").takes::<Vec<Store>>().answers::<Count>(),
                spec("GET", "/v1/brands/{brand}/stores", members, 200, "catalog", "The brand's stores.").answers::<Items<Store>>(),
            ],
            put(put_stores).get(get_stores),
        )
        .add(
            &[
                spec("PUT", "/v1/brands/{brand}/products", members, 200, "catalog", "Add or replace products (body: array of Product).").takes::<Vec<Product>>().answers::<Count>(),
                spec("GET", "/v1/brands/{brand}/products", members, 200, "catalog", "The brand's products.").answers::<Items<Product>>(),
            ],
            put(put_products).get(get_products),
        )
        .add(
            &[spec("PUT", "/v1/brands/{brand}/stock", members, 200, "catalog", "Set stock levels (body: array of {store_id, product_id, quantity}; the stores must exist).").takes::<Vec<Stock>>().answers::<Count>()],
            put(put_stock),
        )
        .add(
            &[spec("GET", "/v1/brands/{brand}/stores/{store}/stock", members, 200, "catalog", "Stock levels of one store.").answers::<Items<Stock>>()],
            get(get_stock),
        )
}
