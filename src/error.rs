//! The one error type of the service and its HTTP form: RFC 9457 problem documents with a
//! stable snake_case `code` a client can switch on. Unexpected failures are logged with
//! their whole cause chain and answered with an opaque 500.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::account::FieldError;
use crate::domain::money::Money;

/// Media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldProblem {
    /// JSON path of the field, e.g. `email` or `items[2].amount`.
    pub field: String,
    pub message: String,
}

impl From<FieldError> for FieldProblem {
    fn from(e: FieldError) -> Self {
        Self {
            field: e.field.to_string(),
            message: e.message,
        }
    }
}

/// An RFC 9457 problem document as this API writes it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// URI reference naming the problem type (`/problems/{code}`).
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
    /// Invalid fields, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// `bid_too_low`: the auction's price when the bid was judged (absent before the first
    /// bid), so a client can bid again without reading the auction first.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "10050000.00")]
    pub current_price: Option<Money>,
    /// `bid_too_low`: the lowest amount the caller may bid against that price.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "10100000.00")]
    pub minimum_bid: Option<Money>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The body failed field validation (422 `validation_failed`).
    #[error("validation failed")]
    Validation(Vec<FieldProblem>),
    /// A business rule refused the request (422 with the rule's code).
    #[error("{detail}")]
    Rule { code: &'static str, detail: String },
    /// The request could not be understood (400).
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// Missing, invalid or expired credentials (401).
    #[error("{detail}")]
    Unauthorized { code: &'static str, detail: String },
    /// Authenticated, but not allowed (403).
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    /// No such resource, or one the caller may not know exists (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (409).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// A bid at or below what it must beat (409 `bid_too_low`), with the price it met and
    /// the lowest bid the caller may place against it.
    #[error("{detail}")]
    Outpriced {
        detail: String,
        current_price: Option<Money>,
        minimum_bid: Money,
    },
    /// The path exists, the method does not (405).
    #[error("this method is not allowed on this resource")]
    MethodNotAllowed,
    /// The body is not JSON (415).
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    /// The body is larger than the configured limit (413).
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// Too many requests from this client (429).
    #[error("too many requests")]
    RateLimited { retry_after_seconds: u64 },
    /// Too many of something at once (429 with its own code), e.g. open streams.
    #[error("{detail}")]
    Throttled {
        code: &'static str,
        detail: String,
        retry_after_seconds: u64,
    },
    /// The database or another dependency is not answering (503).
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The database's storage is full (507): nothing was written.
    #[error("storage full: {0}")]
    StorageFull(String),
    /// Anything unexpected (500). The cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }

    pub fn rule(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Rule {
            code,
            detail: detail.into(),
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Unauthorized {
            code,
            detail: detail.into(),
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden {
            code: "forbidden",
            detail: detail.into(),
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldProblem {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Validation(_) => "validation_failed",
            AppError::Rule { code, .. }
            | AppError::BadRequest { code, .. }
            | AppError::Unauthorized { code, .. }
            | AppError::Forbidden { code, .. }
            | AppError::Conflict { code, .. }
            | AppError::Throttled { code, .. } => code,
            AppError::NotFound(_) => "not_found",
            AppError::Outpriced { .. } => "bid_too_low",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::PayloadTooLarge { .. } => "payload_too_large",
            AppError::Unavailable(_) => "service_unavailable",
            AppError::StorageFull(_) => "storage_full",
            AppError::Internal(_) => "internal_error",
        }
    }

    fn detail(&self) -> String {
        match self {
            AppError::Validation(errors) => match errors.as_slice() {
                [one] => format!("{}: {}", one.field, one.message),
                _ => format!("{} fields are invalid", errors.len()),
            },
            AppError::RateLimited {
                retry_after_seconds,
            } => {
                format!("too many requests; try again in {retry_after_seconds} s")
            }
            AppError::Unavailable(_) => {
                "the service cannot reach a dependency right now; try again shortly".into()
            }
            AppError::StorageFull(_) => {
                "the exchange's storage is full; nothing was changed; try again later".into()
            }
            AppError::Internal(_) => "an unexpected error occurred; it has been logged".into(),
            other => other.to_string(),
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status_code();
        let errors = match self {
            AppError::Validation(errors) => errors.clone(),
            _ => Vec::new(),
        };
        let mut p = problem(status, self.code(), self.detail(), errors);
        if let AppError::Outpriced {
            current_price,
            minimum_bid,
            ..
        } = self
        {
            p.current_price = *current_price;
            p.minimum_bid = Some(*minimum_bid);
        }
        p
    }
}

/// Builds a problem document for any status and code.
pub fn problem(
    status: StatusCode,
    code: &str,
    detail: impl Into<String>,
    errors: Vec<FieldProblem>,
) -> Problem {
    Problem {
        type_: format!("/problems/{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        detail: detail.into(),
        code: code.to_string(),
        errors,
        current_price: None,
        minimum_bid: None,
    }
}

/// Writes a problem document as a response.
pub fn problem_response(p: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)))
        .body(serde_json::to_string(p).unwrap_or_default())
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Validation(_) | AppError::Rule { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } | AppError::Outpriced { .. } => StatusCode::CONFLICT,
            AppError::RateLimited { .. } | AppError::Throttled { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AppError::Internal(e) => tracing::error!(error = format!("{e:#}"), "internal error"),
            AppError::Unavailable(cause) => tracing::warn!(%cause, "dependency unavailable"),
            AppError::StorageFull(cause) => tracing::error!(%cause, "database storage is full"),
            _ => {}
        }
        let mut resp = problem_response(&self.to_problem());
        if let AppError::Unauthorized { .. } = self {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"asset-exchange\""),
            );
        }
        if let AppError::RateLimited {
            retry_after_seconds,
        }
        | AppError::Throttled {
            retry_after_seconds,
            ..
        } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_seconds.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        AppError::Validation(vec![e.into()])
    }
}

impl From<Vec<FieldError>> for AppError {
    fn from(errors: Vec<FieldError>) -> Self {
        AppError::Validation(errors.into_iter().map(Into::into).collect())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as Kind, Error as E};
        match e {
            E::NotFound => AppError::not_found("no such resource"),
            E::DatabaseError(Kind::UniqueViolation, _) => AppError::conflict(
                "conflict",
                "a record with the same unique value already exists",
            ),
            // A connection that died while idle fails at the first statement sent on it
            // (`UnableToSendCommand`: the pool does not test connections on checkout).
            E::DatabaseError(Kind::ClosedConnection | Kind::UnableToSendCommand, info) => {
                AppError::Unavailable(info.message().to_string())
            }
            // A commit that failed, or a transaction that could not be rolled back, on a
            // connection that was lost is the lost connection.
            E::RollbackErrorOnCommit { commit_error, .. } => AppError::from(*commit_error),
            E::BrokenTransactionManager => {
                AppError::Unavailable("the connection's transaction could not be ended".into())
            }
            E::DatabaseError(Kind::SerializationFailure, _) => {
                AppError::conflict("concurrent_update", "a concurrent change won; retry")
            }
            E::DatabaseError(_, info) if storage_full(info.message()) => {
                AppError::StorageFull(info.message().to_string())
            }
            E::DatabaseError(Kind::Unknown, info) if lost(info.message()) => {
                AppError::Unavailable(info.message().to_string())
            }
            other => AppError::Internal(other.into()),
        }
    }
}

/// The messages of a database that is busy (SQLite) or gone (libpq): the request may be
/// retried once it is back.
fn lost(message: &str) -> bool {
    [
        "database is locked",
        "terminating connection",
        "server closed the connection",
        "no connection to the server",
        "could not send data to server",
        "could not receive data from server",
        "the database system is shutting down",
        "the database system is starting up",
        "SSL connection has been closed",
        "SSL SYSCALL error",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// SQLite's SQLITE_FULL and PostgreSQL's "could not extend file ... No space left on device".
fn storage_full(message: &str) -> bool {
    [
        "database or disk is full",
        "No space left on device",
        "could not extend file",
    ]
    .iter()
    .any(|m| message.contains(m))
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        AppError::Unavailable(format!("no database connection: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Info(&'static str);

    impl diesel::result::DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn db_error(message: &'static str) -> AppError {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new(Info(message)),
        )
        .into()
    }

    #[test]
    fn a_full_disk_is_507_storage_full_and_a_lost_server_503() {
        for full in [
            "database or disk is full",
            "could not extend file \"base/16384/2619\": No space left on device",
        ] {
            let e = db_error(full);
            assert_eq!(e.status_code(), StatusCode::INSUFFICIENT_STORAGE);
            assert_eq!(e.code(), "storage_full");
            assert!(
                !e.to_problem().detail.contains("disk is full"),
                "no internals"
            );
        }
        let e = db_error("server closed the connection unexpectedly");
        assert_eq!(e.code(), "service_unavailable");
        assert_eq!(
            db_error("no connection to the server\n").code(),
            "service_unavailable"
        );
        assert_eq!(db_error("syntax error").code(), "internal_error");
    }

    /// How libpq reports a connection that went away while the pool held it: whatever the
    /// statement was, 503 and not 500 (the outage drill saw a 500 on a bid's first read).
    #[test]
    fn a_connection_lost_between_requests_is_503_however_diesel_reports_it() {
        use diesel::result::{DatabaseErrorKind as Kind, Error as E};
        let kinds = [Kind::UnableToSendCommand, Kind::ClosedConnection];
        for kind in kinds {
            let e: AppError = E::DatabaseError(kind, Box::new(Info("no connection"))).into();
            assert_eq!(e.code(), "service_unavailable", "{kind:?}");
        }
        let lost_commit = E::RollbackErrorOnCommit {
            commit_error: Box::new(E::DatabaseError(
                Kind::ClosedConnection,
                Box::new(Info("server closed the connection unexpectedly")),
            )),
            rollback_error: Box::new(E::BrokenTransactionManager),
        };
        assert_eq!(AppError::from(lost_commit).code(), "service_unavailable");
        assert_eq!(
            AppError::from(E::BrokenTransactionManager).code(),
            "service_unavailable"
        );
        let refused_commit = E::RollbackErrorOnCommit {
            commit_error: Box::new(E::DatabaseError(
                Kind::SerializationFailure,
                Box::new(Info("could not serialize access")),
            )),
            rollback_error: Box::new(E::NotInTransaction),
        };
        assert_eq!(AppError::from(refused_commit).code(), "concurrent_update");
        let odd = E::DatabaseError(Kind::CheckViolation, Box::new(Info("check")));
        assert_eq!(AppError::from(odd).code(), "internal_error");
    }
}
