//! Trust without trusting the exchange: the transparency log's public checkpoints (C2SP
//! signed notes, with witness cosignatures), inclusion and consistency proofs.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::checkpoint::CheckpointView;
use crate::audit::{self, RequestMeta, log};
use crate::auth::user::AuthUser;
use crate::domain::Role;
use crate::error::{AppError, Problem};
use crate::state::AppState;

fn note_response(cp: &log::SignedCheckpoint) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .body(cp.note.clone())
}

fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// The newest log checkpoint as a signed note (or, with `Accept: application/json`, the
/// newest checkpoint of the stream heads).
#[utoipa::path(get, path = "/api/v1/audit/checkpoints/latest", tag = "audit",
    responses(
        (status = 200, description = "The newest checkpoint: a C2SP signed note (text/plain) with every witness cosignature; with `Accept: application/json` the stream-heads checkpoint",
            content((String = "text/plain"), (CheckpointView = "application/json"))),
        (status = 404, description = "No checkpoint yet", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn latest_checkpoint(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let none = || AppError::not_found("no checkpoint has been signed yet");
    if wants_json(&req) {
        let cp = state
            .db
            .run(audit::latest_checkpoint)
            .await?
            .ok_or_else(none)?;
        return Ok(HttpResponse::Ok().json(CheckpointView::from(&cp)));
    }
    let cp = state
        .db
        .run(|c| log::served_checkpoint(c, None))
        .await?
        .ok_or_else(none)?;
    Ok(note_response(&cp))
}

/// The log checkpoint of exactly `tree_size` leaves, as a signed note with its cosignatures.
#[utoipa::path(get, path = "/api/v1/audit/checkpoints/{tree_size}", tag = "audit",
    params(("tree_size" = u64, Path, description = "The tree size a checkpoint was signed at")),
    responses(
        (status = 200, description = "A C2SP signed note", content_type = "text/plain", body = String),
        (status = 404, description = "No checkpoint of that size", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn checkpoint_at(
    state: web::Data<AppState>,
    path: web::Path<u64>,
) -> Result<HttpResponse, AppError> {
    let size = path.into_inner();
    let cp = state
        .db
        .run(move |c| log::served_checkpoint(c, Some(size)))
        .await?
        .ok_or_else(|| AppError::not_found("no checkpoint of that tree size"))?;
    Ok(note_response(&cp))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProofQuery {
    /// The tree size to prove inclusion in (default: the newest checkpoint's).
    pub tree_size: Option<u64>,
}

/// An RFC 6962 inclusion proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionView {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// `SHA-256(0x00 ‖ event hash)`, hex.
    pub leaf_hash: String,
    /// The audit path, leaf to root, hex.
    pub hashes: Vec<String>,
}

fn hexes(hashes: &[audit::tlog::Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

/// The inclusion proof of an audit event. Auditors for any event; a bidder for its own bids.
#[utoipa::path(get, path = "/api/v1/audit/events/{id}/proof", tag = "audit",
    params(("id" = i64, Path, description = "Audit event id"), ProofQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The proof", body = InclusionView),
        (status = 400, description = "`invalid_query`: tree_size beyond the log", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event (or not the caller's), or not in a tree of that size", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn event_proof(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    q: web::Query<ProofQuery>,
) -> Result<HttpResponse, AppError> {
    let (id, asked) = (path.into_inner(), q.tree_size);
    let staff = matches!(user.role, Role::Auditor | Role::Admin);
    let proof = state
        .db
        .run(move |c| {
            if !staff && !audit::log::is_own_bid(c, id, user.id)? {
                return Ok(None);
            }
            let size = match asked {
                Some(n) => n,
                None => log::served_checkpoint(c, None)?.map_or(log::size(c)?, |cp| cp.size),
            };
            log::inclusion(c, id, size)
        })
        .await?
        .ok_or_else(|| AppError::not_found("no such event in a tree of that size"))?;
    Ok(HttpResponse::Ok().json(InclusionView {
        leaf_index: proof.leaf_index,
        tree_size: proof.tree_size,
        leaf_hash: hex::encode(proof.leaf_hash),
        hashes: hexes(&proof.hashes),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The older tree size.
    pub from: u64,
    /// The newer tree size (at most the log's size).
    pub to: u64,
}

/// An RFC 6962 consistency proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyView {
    pub from: u64,
    pub to: u64,
    /// Hex hashes.
    pub hashes: Vec<String>,
}

/// The consistency proof between two tree sizes: the newer tree extends the older one.
#[utoipa::path(get, path = "/api/v1/audit/consistency", tag = "audit",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof", body = ConsistencyView),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn consistency(
    state: web::Data<AppState>,
    q: web::Query<ConsistencyQuery>,
) -> Result<HttpResponse, AppError> {
    let (from, to) = (q.from, q.to);
    let hashes = state.db.run(move |c| log::consistency(c, from, to)).await?;
    Ok(HttpResponse::Ok().json(ConsistencyView {
        from,
        to,
        hashes: hexes(&hashes),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CosignatureRequest {
    /// One signature line, `— <witness name> <base64 cosignature/v1 blob>`.
    pub cosignature: String,
}

/// A configured witness adds its cosignature of a checkpoint (anyone may post; only a
/// cosignature that verifies with a configured witness key is kept).
#[utoipa::path(post, path = "/api/v1/audit/checkpoints/{tree_size}/cosignatures", tag = "audit",
    params(("tree_size" = u64, Path, description = "The checkpoint's tree size")),
    request_body = CosignatureRequest,
    responses(
        (status = 201, description = "Kept (or already kept)"),
        (status = 404, description = "No checkpoint of that size", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`bad_cosignature`: not a valid cosignature by a configured witness", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cosign(
    state: web::Data<AppState>,
    meta: RequestMeta,
    path: web::Path<u64>,
    body: super::json::ApiJson<CosignatureRequest>,
) -> Result<HttpResponse, AppError> {
    let size = path.into_inner();
    let line = body.0.cosignature;
    let s = state.clone();
    state
        .db
        .tx(move |c| {
            let now = s.clock.now();
            log::add_cosignature(c, &s.audit_witnesses, size, &line, now, &meta)
        })
        .await?;
    Ok(HttpResponse::Created().finish())
}
