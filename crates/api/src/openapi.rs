//! `GET /v1/openapi.json`: an OpenAPI 3.1 document built from the route table, so every
//! route the router serves is in it (and nothing else). Each operation carries the scope it
//! needs as `x-rulebox-scope`. Request and answer bodies carry JSON Schemas (2020-12, as
//! OpenAPI 3.1 takes them) derived by schemars from the very types the handlers decode and
//! encode, so the document cannot drift from what the server accepts.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::{RouteSpec, Table, spec};

/// The OpenAPI document of `routes`.
pub fn document(routes: &[RouteSpec]) -> Value {
    let mut generator = schemars::SchemaGenerator::new(
        schemars::generate::SchemaSettings::draft2020_12()
            .with(|s| s.definitions_path = "/components/schemas".into()),
    );
    let mut paths: BTreeMap<&str, serde_json::Map<String, Value>> = BTreeMap::new();
    for route in routes {
        let params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|segment| {
                let start = segment.find('{')?;
                let end = segment.find('}')?;
                Some(json!({
                    "name": &segment[start + 1..end],
                    "in": "path",
                    "required": true,
                    "schema": { "type": "string" },
                }))
            })
            .collect();
        let mut responses = serde_json::Map::new();
        let success = match route.response {
            Some(schema) => {
                json!({ "description": "success", "content": { "application/json": { "schema": schema(&mut generator) } } })
            }
            None if route.success == 204 => json!({ "description": "success, no content" }),
            None => json!({ "description": "success", "content": { "application/json": {} } }),
        };
        responses.insert(route.success.to_string(), success);
        responses.insert(
            "default".into(),
            json!({ "$ref": "#/components/responses/Error" }),
        );
        let mut operation = json!({
            "operationId": operation_id(route),
            "summary": route.summary,
            "tags": [route.tag],
            "parameters": params,
            "responses": responses,
            "x-rulebox-scope": route.scope.map(|s| s.as_str()),
        });
        operation["security"] = match route.scope {
            Some(_) => json!([{ "bearer": [] }]),
            None => json!([]),
        };
        if let Some(schema) = route.request {
            operation["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": schema(&mut generator) } },
            });
        }
        paths
            .entry(route.path)
            .or_default()
            .insert(route.method.to_lowercase(), operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "rulebox API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Loyalty rule engine: events, queries, members, catalog and plugins of brands. Authenticate with `Authorization: Bearer <key>`; a brand key sees only its brand (404 otherwise) and needs the route's scope (x-rulebox-scope; 403 otherwise).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas(generator.take_definitions(true)),
            "responses": {
                "Error": {
                    "description": "error",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
                },
            },
        },
    })
}

/// The generated definitions plus the error body every route may answer.
fn schemas(mut definitions: serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    definitions.insert(
        "Error".into(),
        json!({
            "type": "object",
                    "required": ["error"],
                    "properties": { "error": {
                        "type": "object",
                        "required": ["code", "message", "request_id"],
                        "properties": {
                            "code": { "type": "string", "description": "stable kebab-case code" },
                            "message": { "type": "string" },
                            "request_id": { "type": "string" },
                            "details": { "type": "object" },
                        },
                    } },
        }),
    );
    definitions
}

fn operation_id(route: &RouteSpec) -> String {
    let mut id = route.method.to_lowercase();
    for segment in route.path.split('/').skip(2) {
        let word: String = segment
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let word = word.trim_matches('-');
        if !word.is_empty() {
            id.push('-');
            id.push_str(word);
        }
    }
    id
}

async fn openapi(Extension(routes): Extension<Arc<Vec<RouteSpec>>>) -> Json<Value> {
    Json(document(&routes))
}

pub(super) fn routes(table: Table) -> Table {
    table.add(
        &[spec(
            "GET",
            "/v1/openapi.json",
            None,
            200,
            "operations",
            "This document.",
        )],
        get(openapi),
    )
}
