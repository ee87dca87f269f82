//! The shape every writing handler shares, said once: read the clock, take the caller and the
//! request facts, open one transaction and run a use case in it. A handler names a [`Call`]
//! among its arguments and reads as "who, what, which use case":
//!
//! ```ignore
//! pub async fn review(call: Call, op: Staff<Operators>, path: web::Path<i64>, body: ApiJson<R>)
//!     -> Result<HttpResponse, AppError> {
//!     let id = path.into_inner();
//!     let view = call.tx(&op, move |c, cx| uc::review(c, &cx.deps(), &cx.by(), id, &body)).await?;
//!     Ok(HttpResponse::Ok().json(view))
//! }
//! ```

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{DateTime, Utc};

use super::extract::{AuthUser, RequestMeta};
use crate::audit::Actor;
use crate::error::AppError;
use crate::exchange::listings::Deps;
use crate::exchange::registrations::By;
use crate::state::AppState;
use crate::store::Conn;

/// A use case call of this request: the application state and the request facts the audit
/// trail records. Extracting it cannot fail (but for a missing state, a wiring error).
pub struct Call {
    state: web::Data<AppState>,
    meta: RequestMeta,
}

impl FromRequest for Call {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("application state missing")));
        let meta = RequestMeta::from_request(req, payload).into_inner();
        ready(state.and_then(|state| Ok(Call { state, meta: meta? })))
    }
}

impl Call {
    /// The application state, for what a handler does after the use case (publish, count).
    pub fn state(&self) -> &web::Data<AppState> {
        &self.state
    }

    /// The time now, by the application's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }

    /// Reads the clock, then runs `use_case` for `user` in one write transaction: the change,
    /// its audit events and its queued mail commit together or not at all.
    pub async fn tx<T, F>(&self, user: &AuthUser, use_case: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn<'_>, &Ctx) -> Result<T, AppError> + Send + 'static,
    {
        self.tx_at(user, self.now(), use_case).await
    }

    /// [`Call::tx`] at a time the handler read before (when the use case must agree with
    /// something the handler already stamped).
    pub async fn tx_at<T, F>(
        &self,
        user: &AuthUser,
        now: DateTime<Utc>,
        use_case: F,
    ) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn<'_>, &Ctx) -> Result<T, AppError> + Send + 'static,
    {
        let cx = self.ctx(user, now);
        self.state.db.tx(move |c| use_case(c, &cx)).await
    }

    /// Runs a use case that only reads (what a write checks before its transaction) on a
    /// connection of its own, outside any transaction: no BEGIN and no ROLLBACK around the
    /// reads. A use case that writes takes [`Call::tx`].
    pub async fn read<T, F>(&self, user: &AuthUser, use_case: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn<'_>, &Ctx) -> Result<T, AppError> + Send + 'static,
    {
        let cx = self.ctx(user, self.now());
        self.state.db.run(move |c| use_case(c, &cx)).await
    }

    fn ctx(&self, user: &AuthUser, now: DateTime<Utc>) -> Ctx {
        Ctx {
            now,
            state: self.state.clone(),
            user: user.clone(),
            meta: self.meta.clone(),
        }
    }
}

/// What a use case is handed besides the connection: who calls, the request facts, the time
/// the call runs at, and the exchange's services.
pub struct Ctx {
    state: web::Data<AppState>,
    pub user: AuthUser,
    pub meta: RequestMeta,
    pub now: DateTime<Utc>,
}

impl Ctx {
    /// The application's services (notifier, settings, ...).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The listing rules and the notifier.
    pub fn deps(&self) -> Deps<'_> {
        self.state.deps()
    }

    /// The caller, the request facts and the time, as the use cases take them.
    pub fn by(&self) -> By<'_> {
        By {
            user: &self.user,
            meta: &self.meta,
            now: self.now,
        }
    }

    /// The caller as the audit trail names it.
    pub fn actor(&self) -> Actor {
        Actor::user(self.user.id, self.user.role)
    }
}
