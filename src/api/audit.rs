//! `/api/v1/audit/*`: the auditor's view of the trail: events, verification, checkpoints,
//! the public key and exports.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::call::Call;
use super::extract::{Auditors, Staff};
use super::paging::{Page, Paging};
use crate::audit::checkpoint::CheckpointView;
use crate::audit::verify::Report;
use crate::audit::{self, Event, export};
use crate::error::{AppError, Problem};
use crate::exchange::scope as scope_uc;
use crate::state::AppState;
use crate::store::audit::{self as store, EventFilter, StoredEvent};
use crate::store::models::from_db;

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    /// `listing:{id}`, `user:{id}`, `org:{id}` or `system`.
    pub stream: String,
    pub stream_seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    pub actor_role: Option<String>,
    /// Dotted action name, e.g. `auth.login`.
    pub action: String,
    /// The recorded facts (canonical JSON; personal data only as salted hashes); null for an
    /// auditor outside whose scope the event falls (its hashes still chain and verify).
    pub payload: Value,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl From<StoredEvent> for EventView {
    fn from(e: StoredEvent) -> Self {
        Self {
            id: e.id,
            payload: serde_json::from_str(&e.payload).unwrap_or(Value::String(e.payload.clone())),
            stream: e.stream,
            stream_seq: e.stream_seq,
            occurred_at: from_db(e.occurred_at),
            actor_id: e.actor_id,
            actor_role: e.actor_role,
            action: e.action,
            client_ip: e.client_ip,
            request_id: e.request_id,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only events of this listing's stream.
    pub listing_id: Option<i64>,
    /// Only events of this exact stream (e.g. `user:7`).
    pub stream: Option<String>,
    pub actor_id: Option<i64>,
    pub action: Option<String>,
    /// Inclusive lower bound (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 4294967295_i64, value_type = Option<i64>)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// Audit events, oldest first, filtered and paged.
#[utoipa::path(get, path = "/api/v1/audit/events", operation_id = "audit_events", tag = "audit",
    params(EventQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events", body = inline(Page<EventView>)),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an auditor or admin", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn events(
    state: web::Data<AppState>,
    auditor: Staff<Auditors>,
    q: web::Query<EventQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let paging = Paging::new(q.page, q.per_page)?;
    if q.listing_id.is_some() && q.stream.is_some() {
        return Err(AppError::bad_request(
            "invalid_query",
            "give listing_id or stream, not both",
        ));
    }
    let filter = EventFilter {
        stream: q.listing_id.map(|id| format!("listing:{id}")).or(q.stream),
        actor_id: q.actor_id,
        action: q.action,
        from: q.from,
        to: q.to,
    };
    let (offset, limit) = (paging.offset(), paging.limit());
    let (scope, listing) = (auditor.scope.clone(), q.listing_id);
    let (rows, total, visible) = state
        .db
        .run(move |c| {
            if let Some(id) = listing {
                scope_uc::require_listing(c, &scope, id)?;
            }
            let (rows, total) = store::query_events(c, &filter, offset, limit)?;
            Ok::<_, AppError>((rows, total, scope_uc::visible_streams(c, &scope)?))
        })
        .await?;
    let items: Vec<EventView> = rows
        .into_iter()
        .map(|e| {
            let hidden = visible.as_ref().is_some_and(|v| !v.contains(&e.stream));
            let mut view = EventView::from(e);
            if hidden {
                view.payload = Value::Null;
                view.client_ip = None;
            }
            view
        })
        .collect();
    Ok(HttpResponse::Ok().json(paging.page(items, total)))
}

/// Recomputes every chain and checks every checkpoint.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Verification report (valid or not)", body = Report),
        (status = 403, description = "Not an auditor or admin", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn verify(
    state: web::Data<AppState>,
    _auditor: Staff<Auditors>,
) -> Result<HttpResponse, AppError> {
    let s = state.clone();
    let report = web::block(move || audit::verify_db(&s.db, s.audit_keys.clone()))
        .await
        .map_err(AppError::internal)??;
    Ok(HttpResponse::Ok().json(report))
}

/// Signs a checkpoint now (whether or not anything changed).
#[utoipa::path(post, path = "/api/v1/audit/checkpoints", tag = "audit",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new checkpoint", body = CheckpointView),
        (status = 403, description = "Not an auditor or admin", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_checkpoint(
    state: web::Data<AppState>,
    _auditor: Staff<Auditors>,
) -> Result<HttpResponse, AppError> {
    let s = state.clone();
    let cp = web::block(move || audit::checkpoint_now(&s.db, &s.audit_signer, s.clock.now(), true))
        .await
        .map_err(AppError::internal)??
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("forced checkpoint not created")))?;
    Ok(HttpResponse::Created().json(CheckpointView::from(&cp)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKeyView {
    pub key_id: String,
    /// Always `ed25519`.
    pub algorithm: &'static str,
    /// The raw 32-byte public key, base64.
    pub public_key: String,
}

/// The public key that verifies checkpoint signatures.
#[utoipa::path(get, path = "/api/v1/audit/public-key", tag = "audit",
    responses((status = 200, description = "The checkpoint signing public key", body = PublicKeyView))
)]
pub async fn public_key(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(PublicKeyView {
        key_id: state.audit_signer.key_id().to_string(),
        algorithm: "ed25519",
        public_key: state.audit_signer.public_key_base64(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Export only this listing's stream (with every checkpoint, so it verifies offline).
    pub listing_id: Option<i64>,
    /// `jsonl` (default; verifiable offline) or `csv` (events only, for reading).
    #[param(schema_with = export_format)]
    pub format: Option<String>,
}

fn export_format() -> utoipa::openapi::schema::Object {
    super::openapi::one_of(["jsonl", "csv"])
}

/// The trail as JSONL (events then checkpoints) or CSV.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit",
    params(ExportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The export: JSON lines by default, CSV with `format=csv`",
            content((String = "application/x-ndjson"), (String = "text/csv"))),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an auditor or admin", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn export_trail(
    call: Call,
    auditor: Staff<Auditors>,
    q: web::Query<ExportQuery>,
) -> Result<HttpResponse, AppError> {
    let csv = match q.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => false,
        "csv" => true,
        other => {
            return Err(AppError::bad_request(
                "invalid_query",
                format!("format must be jsonl or csv, not {other:?}"),
            ));
        }
    };
    let stream = q.listing_id.map(|id| format!("listing:{id}"));
    let (auditor_scope, listing) = (auditor.scope.clone(), q.listing_id);
    // A supervisor exports only the streams in its scope (and a listing in it): refused
    // before anything is sent, so a refusal is still a problem document.
    let visible = call
        .state()
        .db
        .run(move |c| {
            if let Some(id) = listing {
                scope_uc::require_listing(c, &auditor_scope, id)?;
            }
            scope_uc::visible_streams(c, &auditor_scope)
        })
        .await?;
    // Recorded before a byte is sent, so a reader who stops half-way is in the trail too
    // (an export of the whole trail holds its own record).
    let format = if csv { "csv" } else { "jsonl" };
    let named = stream.clone();
    call.tx(&auditor, move |c, cx| {
        audit::record(
            c,
            cx.now,
            Event {
                stream: audit::SYSTEM_STREAM.to_string(),
                action: "audit.exported",
                actor: cx.actor(),
                payload: json!({"format": format, "stream": named}),
                meta: &cx.meta,
            },
        )
    })
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, AppError>>(EXPORT_CHUNKS_AHEAD);
    let producer = {
        let (s, tx) = (call.state().clone(), tx.clone());
        web::block(move || produce_export(&s, csv, stream, visible, &tx))
    };
    // The end is sent once the rest is: a reader who got it got the whole export. A failure
    // on the way ends the response without it.
    actix_web::rt::spawn(async move {
        let tail = match producer.await {
            Ok(tail) => tail.map(Bytes::from),
            Err(e) => Err(AppError::internal(e)),
        };
        drop(tx.send(tail).await);
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let (content_type, file) = if csv {
        ("text/csv; charset=utf-8", "audit-export.csv")
    } else {
        ("application/x-ndjson", "audit-export.jsonl")
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file}\""),
        ))
        .streaming(body))
}

/// About how many bytes of an export are sent at a time.
const EXPORT_CHUNK: usize = 64 * 1024;
/// How many chunks the export's producer may run ahead of the reader.
const EXPORT_CHUNKS_AHEAD: usize = 4;

/// Writes the export a batch of rows at a time into `tx` (blocking on a slow reader: memory
/// stays at a few chunks); returns its end, kept back. Stops if the reader went away.
fn produce_export(
    s: &AppState,
    csv: bool,
    scope: Option<String>,
    visible: Option<std::collections::BTreeSet<String>>,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, AppError>>,
) -> Result<Vec<u8>, AppError> {
    let shown = |e: &StoredEvent| visible.as_ref().is_none_or(|v| v.contains(&e.stream));
    let mut send = |chunk: Vec<u8>| {
        tx.blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| AppError::internal(anyhow::anyhow!("the export's reader went away")))
    };
    let mut out = export::Out::new(EXPORT_CHUNK, &mut send);
    if csv {
        export::write_csv(&s.db, scope.as_deref(), shown, &mut out)?;
    } else {
        let scope_list = match (&scope, &visible) {
            (Some(s), _) => Some(vec![s.clone()]),
            (None, Some(v)) => Some(v.iter().cloned().collect()),
            (None, None) => None,
        };
        let now = s.clock.now();
        export::write_jsonl(&s.db, now, scope.as_deref(), scope_list, shown, &mut out)?;
    }
    Ok(out.finish())
}
