//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes and the
//! request/response types, and served at GET /api/openapi.json.
//!
//! Routes are registered through utoipa-axum (see [`super::api_routes`]), which takes each
//! route's path and method from the same attribute that documents it, so the document lists
//! exactly what the router serves. The errors every route can produce (header and body limits,
//! authentication, the database being away, a timeout) are added here, in one place, rather than
//! repeated on every handler.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, ObjectBuilder, OpenApi as OpenApiDocument, Ref, RefOr, Response,
    ResponseBuilder, Type,
};
use utoipa::{OpenApi, ToSchema};

use super::error::ErrorBody;

/// Name of the security scheme handlers refer to with `security(("bearer" = []))`.
pub(crate) const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "securevote",
        description = "A secure online voting service. Every error is `{\"error\": {\"code\", \"message\"}}` \
            with a stable `code`. Authenticate with `Authorization: Bearer <token>` from POST /api/auth/login.",
        license(name = "MIT", identifier = "MIT"),
    ),
    components(schemas(ErrorBody, HealthBody)),
    tags(
        (name = "auth", description = "Registration, login, the current user"),
        (name = "ballot", description = "Candidates and results (public)"),
        (name = "votes", description = "Casting and reading one's vote"),
        (name = "admin", description = "Admin role only; every change is audited"),
        (name = "operations", description = "Health and this document"),
    )
)]
pub(crate) struct ApiDoc;

/// `/health`'s answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct HealthBody {
    /// `ok` or `degraded`.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// `ok` or `unavailable`.
    #[schema(example = "ok")]
    pub database: &'static str,
}

/// The complete document: the routes' own documentation plus the shared error responses.
pub(crate) fn document() -> OpenApiDocument {
    let (_, mut doc) = super::api_routes().split_for_parts();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("A token from POST /api/auth/login"))
                .build(),
        ),
    );
    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            add_shared_errors(operation);
        }
    }
    doc
}

static DOCUMENT_JSON: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_json()
        .unwrap_or_else(|e| format!(r#"{{"error":"cannot render the OpenAPI document: {e}"}}"#))
});

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object))
)]
pub(crate) async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT_JSON.as_str(),
    )
}

fn add_shared_errors(operation: &mut Operation) {
    let secured = operation.security.as_ref().is_some_and(|requirements| {
        requirements.iter().any(|requirement| {
            serde_json::to_value(requirement)
                .ok()
                .and_then(|value| value.get(BEARER).cloned())
                .is_some()
        })
    });
    let has_body = operation.request_body.is_some();
    let mut shared: Vec<(&str, Response)> = Vec::new();
    if has_body {
        shared.push((
            "400",
            error("`invalid_request`: malformed JSON or a missing field", None),
        ));
        shared.push((
            "413",
            error("`payload_too_large`: body over MAX_BODY_BYTES", None),
        ));
        shared.push((
            "415",
            error(
                "`unsupported_media_type`: the body is not `application/json`",
                None,
            ),
        ));
    }
    if secured {
        shared.push((
            "401",
            error(
                "`unauthorized`: missing, malformed, expired or forged token, or a deleted account",
                Some(("WWW-Authenticate", "`Bearer`", Type::String)),
            ),
        ));
    }
    shared.push((
        "431",
        error(
            "`headers_too_large`: request line and headers over MAX_HEADER_BYTES",
            None,
        ),
    ));
    shared.push((
        "500",
        error("`internal`: details are in the server log", None),
    ));
    let unavailable = error(
        "`unavailable`: the database cannot be reached, password hashing is at capacity, or the \
         request ran past REQUEST_TIMEOUT_SECONDS",
        Some(("Retry-After", "Seconds to wait", Type::Integer)),
    );
    let responses = &mut operation.responses.responses;
    for (status, response) in shared {
        responses
            .entry(status.to_owned())
            .or_insert(RefOr::T(response));
    }
    match responses.get_mut("503") {
        None => {
            responses.insert("503".to_owned(), RefOr::T(unavailable));
        }
        // /health answers 503 with its own body; a timeout or an overload still answers with
        // the error body, so both are allowed.
        Some(RefOr::T(own)) => {
            if let Some(content) = own.content.get_mut("application/json")
                && let Some(schema) = content.schema.take()
            {
                content.schema = Some(RefOr::T(
                    utoipa::openapi::schema::OneOfBuilder::new()
                        .item(schema)
                        .item(Ref::from_schema_name("ErrorBody"))
                        .into(),
                ));
            }
        }
        Some(RefOr::Ref(_)) => {}
    }
}

fn error(description: &str, header: Option<(&str, &str, Type)>) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    if let Some((name, description, schema_type)) = header {
        response = response.header(
            name,
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(schema_type))
                .description(Some(description))
                .build(),
        );
    }
    response.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_bearer_auth_and_shared_errors() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT_JSON).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        let vote = &doc["paths"]["/api/votes"]["post"]["responses"];
        for status in ["201", "400", "401", "413", "415", "431", "500", "503"] {
            assert!(vote.get(status).is_some(), "POST /api/votes lacks {status}");
        }
        let login = &doc["paths"]["/api/auth/login"]["post"]["responses"];
        assert!(login["429"]["headers"].get("Retry-After").is_some());
        assert!(
            login.get("401").is_some()
                && doc["paths"]["/api/results"]["get"]["responses"]
                    .get("401")
                    .is_none()
        );
    }
}
