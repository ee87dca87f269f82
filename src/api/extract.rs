//! Extractors a handler names to require a signed-in user (`AuthUser`) or a role
//! (`Staff<P>`), and to fill the request facts the audit trail records (`RequestMeta`).
//! The types themselves are plain data of the layers below (`auth::AuthUser`,
//! `audit::RequestMeta`); only their reading from an HTTP request lives here.

use std::future::Future;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

pub use crate::audit::RequestMeta;
pub use crate::auth::AuthUser;
use crate::auth::tokens::TokenError;
use crate::domain::Role;
use crate::domain::scope::Scope;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::{Conn, bodies, sessions};
use crate::telemetry::RequestId;

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("application state missing")))
}

fn bearer(req: &HttpRequest) -> Result<String, AppError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| AppError::unauthorized("unauthorized", "sign in first: no bearer token"))?;
    let value = value
        .to_str()
        .map_err(|_| AppError::unauthorized("invalid_token", "malformed Authorization header"))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        AppError::unauthorized("invalid_token", "use Authorization: Bearer <token>")
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AppError::unauthorized(
            "invalid_token",
            "use Authorization: Bearer <token>",
        ));
    }
    Ok(token.trim().to_string())
}

/// An access token whose signature and expiry were checked, its login not yet. [`AuthUser`]
/// and [`Staff`] check the login with a statement of their own ([`Token::check`]); a handler
/// whose first read can check it in the same statement (the bid) takes the token and
/// confirms the login with what that read found ([`Token::confirm`]).
pub struct Token {
    req: HttpRequest,
    state: web::Data<AppState>,
    /// The login the token names, as the database must still have it.
    pub login: sessions::Login,
    /// The role the token names (the database's is the one that counts).
    pub claimed_role: Role,
}

impl Token {
    /// The request's bearer token, verified (401 if it is missing, malformed or expired).
    /// Verified once per request: the route's middleware and the handler's extractor share it.
    pub fn of(req: &HttpRequest) -> Result<Self, AppError> {
        let state = state(req)?;
        let verified = req.extensions().get::<Verified>().cloned();
        let Verified {
            login,
            claimed_role,
        } = match verified {
            Some(v) => v,
            None => {
                let v = verify(req, &state)?;
                req.extensions_mut().insert(v.clone());
                v
            }
        };
        Ok(Token {
            req: req.clone(),
            state,
            login,
            claimed_role,
        })
    }

    /// The signed-in user, with the login checked by a statement of its own.
    pub async fn check(&self) -> Result<AuthUser, AppError> {
        let login = self.login;
        let live = self
            .state
            .db
            .run(move |c| {
                let Some((role, org, body)) = sessions::live_session_role(c, login)? else {
                    return Ok(None);
                };
                let scope = scope_of_role(c, &role, body)?;
                Ok::<_, AppError>(Some((role, org, scope)))
            })
            .await?;
        let (role, organization_id, scope) = live.ok_or_else(login_ended)?;
        self.finish(role, organization_id, scope).await
    }

    /// The signed-in user, given the login as a read of the handler found it live (see
    /// `store::sessions::Login::is_live`; a login not live gets [`login_ended`]).
    pub async fn confirm(&self, live: sessions::LiveLogin) -> Result<AuthUser, AppError> {
        let (role, organization_id, body) = live;
        let scope = if role == Role::Auditor.as_str() {
            self.state
                .db
                .run(move |c| bodies::scope_of(c, body))
                .await?
        } else {
            Scope::All
        };
        self.finish(role, organization_id, scope).await
    }

    async fn finish(
        &self,
        role: String,
        organization_id: Option<i64>,
        scope: Scope,
    ) -> Result<AuthUser, AppError> {
        let role = Role::parse(&role).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("unknown role {role} in database"))
        })?;
        let user = AuthUser {
            id: self.login.user_id,
            role,
            organization_id,
            session_id: self.login.session_id,
            scope: Arc::new(scope),
        };
        check_mfa_enrolment(&self.state, &self.req, &user).await?;
        tracing::Span::current().record("user_id", user.id);
        self.req.extensions_mut().insert(user.clone());
        Ok(user)
    }
}

/// What a verified access token says: the login it names and the role it claims.
#[derive(Debug, Clone)]
struct Verified {
    login: sessions::Login,
    claimed_role: Role,
}

/// Verifies the request's bearer token (401 if it is missing, malformed or expired).
fn verify(req: &HttpRequest, state: &AppState) -> Result<Verified, AppError> {
    let token = bearer(req)?;
    let claims = state
        .jwt
        .verify(&token, state.clock.now())
        .map_err(|e| match e {
            TokenError::Expired => {
                AppError::unauthorized("token_expired", "the access token has expired")
            }
            TokenError::Invalid => {
                AppError::unauthorized("invalid_token", "the access token is not valid")
            }
        })?;
    let user_id: i64 = claims
        .sub
        .parse()
        .map_err(|_| AppError::unauthorized("invalid_token", "the access token is not valid"))?;
    let login = sessions::Login {
        session_id: claims.sid,
        user_id,
        started_after: state.clock.now() - state.settings.auth.session_max(),
    };
    Ok(Verified {
        login,
        claimed_role: claims.role,
    })
}

/// What a login whose session is revoked, past its lifetime, or of a disabled account gets.
pub fn login_ended() -> AppError {
    AppError::unauthorized("token_revoked", "this login has ended; sign in again")
}

/// Supervision narrows what an auditor sees; no one else's view depends on it.
fn scope_of_role(c: &mut Conn, role: &str, body: Option<i64>) -> Result<Scope, AppError> {
    if role == Role::Auditor.as_str() {
        bodies::scope_of(c, body)
    } else {
        Ok(Scope::All)
    }
}

impl FromRequest for Token {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Token::of(req))
    }
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(user) = req.extensions().get::<AuthUser>() {
            let user = user.clone();
            return Box::pin(async move { Ok(user) });
        }
        let token = Token::of(req);
        Box::pin(async move { token?.check().await })
    }
}

/// The routes an account that must enroll in MFA may use before it has: enrolling, and
/// signing out.
pub const MFA_ENROLMENT_PATHS: [&str; 4] = [
    "/api/v1/me/mfa",
    "/api/v1/me/mfa/confirm",
    "/api/v1/auth/logout",
    "/api/v1/auth/logout-all",
];

/// A caller whose role must use MFA (`auth.mfa_required_roles`) and who has not enrolled yet
/// may only enroll or sign out: anything else is 403 `mfa_enrollment_required`. Roles that need
/// no MFA cost no look-up.
async fn check_mfa_enrolment(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    user: &AuthUser,
) -> Result<(), AppError> {
    let required = state.settings.auth.mfa_required_roles();
    if !required.contains(&user.role) || MFA_ENROLMENT_PATHS.contains(&req.path()) {
        return Ok(());
    }
    let id = user.id;
    let enrolled = state
        .db
        .run(move |c| crate::store::mfa::is_on(c, id))
        .await?;
    if crate::domain::mfa::must_enroll(user.role, &required, enrolled) {
        return Err(AppError::Forbidden {
            code: "mfa_enrollment_required",
            detail: "this account must use two-factor authentication: enroll at POST /api/v1/me/mfa, then confirm at POST /api/v1/me/mfa/confirm".into(),
        });
    }
    Ok(())
}

/// Which roles a guard lets through.
pub trait RolePolicy {
    const ROLES: &'static [Role];
    const WHAT: &'static str;
}

/// A signed-in user whose role the policy `P` allows; others get 403.
#[derive(Debug, Clone)]
pub struct Staff<P: RolePolicy> {
    pub user: AuthUser,
    _policy: PhantomData<P>,
}

impl<P: RolePolicy> std::ops::Deref for Staff<P> {
    type Target = AuthUser;
    fn deref(&self) -> &AuthUser {
        &self.user
    }
}

impl<P: RolePolicy + 'static> FromRequest for Staff<P> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move { Staff::allowed(user.await?) })
    }
}

impl<P: RolePolicy> Staff<P> {
    /// `user`, if the policy lets their role through; else 403.
    pub fn allowed(user: AuthUser) -> Result<Self, AppError> {
        if !P::ROLES.contains(&user.role) {
            return Err(AppError::forbidden(format!("only {} may do this", P::WHAT)));
        }
        Ok(Staff {
            user,
            _policy: PhantomData,
        })
    }
}

/// Declares a role policy: a marker type for `Staff<P>` and the roles it lets through.
macro_rules! role_policy {
    ($(#[doc = $doc:literal] $name:ident: [$($role:ident),+], $what:literal;)*) => {$(
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name;
        impl RolePolicy for $name {
            const ROLES: &'static [Role] = &[$(Role::$role),+];
            const WHAT: &'static str = $what;
        }
    )*};
}

role_policy! {
    /// Exchange operators (and admins).
    Operators: [Operator, Admin], "exchange operators";
    /// Auditors and admins: read-only over everything.
    Auditors: [Auditor, Admin], "auditors";
    /// Platform administrators.
    Admins: [Admin], "administrators";
    /// Enterprises (sellers).
    Enterprises: [Enterprise], "enterprises";
    /// Bidders.
    Bidders: [Bidder], "bidders";
}

/// The caller if signed in: no `Authorization` header means anonymous; a header that does
/// not hold a valid token is still 401.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<AuthUser>);

impl FromRequest for MaybeUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if req.headers().get(header::AUTHORIZATION).is_none() {
            return Box::pin(async { Ok(MaybeUser(None)) });
        }
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move { Ok(MaybeUser(Some(user.await?))) })
    }
}

/// The client IP: the peer address, or the forwarded one when configured to trust a proxy.
pub fn client_ip(req: &HttpRequest, trust_forwarded: bool) -> Option<IpAddr> {
    if trust_forwarded {
        let info = req.connection_info();
        if let Some(addr) = info.realip_remote_addr() {
            if let Ok(ip) = addr.parse::<IpAddr>() {
                return Some(ip);
            }
            if let Ok(sock) = addr.parse::<std::net::SocketAddr>() {
                return Some(sock.ip());
            }
        }
    }
    let peer = req.peer_addr().map(|a| a.ip());
    if let Some(peer) = peer {
        let forwarded = req.headers().contains_key("x-forwarded-for")
            || req.headers().contains_key(header::FORWARDED);
        if crate::auth::ratelimit::behind_untrusted_proxy(peer, forwarded, trust_forwarded) {
            crate::auth::ratelimit::warn_untrusted_proxy(peer);
        }
    }
    peer
}

impl FromRequest for RequestMeta {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trust = req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|s| s.settings.server.trust_forwarded_for);
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect());
        std::future::ready(Ok(RequestMeta {
            client_ip: client_ip(req, trust),
            request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
            user_agent,
        }))
    }
}
