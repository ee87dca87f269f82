//! Account use cases shared by the HTTP API and the command line: registering an
//! organisation's user, creating staff, and the views returned for a user.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::audit::RequestMeta;
use crate::audit::{self, Actor, Event};
use crate::auth::verify_email;
use crate::config::MailSettings;
use crate::domain::Role;
use crate::domain::account::{self, FieldError};
use crate::domain::clock::format_beijing;
use crate::domain::credit_code::CreditCode;
use crate::error::AppError;
use crate::notify::{Kind, Notifier, Recipient};
use crate::store::models::{NewOrganization, NewUser, Organization, User, from_db, to_db};
use crate::store::{Conn, bodies, users};

/// An organisation as its members and staff see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrganizationView {
    pub id: i64,
    pub name: String,
    pub credit_code: String,
}

/// A user as they see themselves (never shown to other parties).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub organization: Option<OrganizationView>,
    pub phone: Option<String>,
    pub locale: String,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}

impl UserView {
    pub fn new(user: &User, org: Option<&Organization>) -> Result<Self, AppError> {
        let role = Role::parse(&user.role)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("unknown role {}", user.role)))?;
        Ok(Self {
            id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            role,
            organization: org.map(|o| OrganizationView {
                id: o.id,
                name: o.name.clone(),
                credit_code: o.credit_code.clone(),
            }),
            phone: user.phone.clone(),
            locale: user.locale.clone(),
            email_verified: user.email_verified_at.is_some(),
            created_at: from_db(user.created_at),
        })
    }
}

/// A registration after validation: every field normalised.
#[derive(Debug, Clone)]
pub struct ValidRegistration {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub organization_name: String,
    pub credit_code: String,
    pub phone: Option<String>,
    pub locale: String,
    /// The supervising body asked for (checked against the tree in the transaction).
    pub supervisory_body_id: Option<i64>,
}

/// The raw registration fields.
pub struct RegistrationInput<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    pub organization_name: &'a str,
    pub credit_code: &'a str,
    pub phone: Option<&'a str>,
    pub locale: Option<&'a str>,
    pub supervisory_body_id: Option<i64>,
}

/// Validates every field, reporting all problems at once. Staff roles are refused with 403.
pub fn validate_registration(input: &RegistrationInput) -> Result<ValidRegistration, AppError> {
    let role = match Role::parse(input.role.trim()) {
        Some(r) if r.is_staff() => {
            return Err(AppError::Forbidden {
                code: "staff_role_not_allowed",
                detail: "staff accounts are created by the exchange, not by registration".into(),
            });
        }
        Some(r) => Ok(r),
        None => Err(FieldError::new("role", "must be enterprise or bidder")),
    };
    let email = account::normalize_email(input.email);
    let password = account::check_password(input.password, input.email);
    let name = account::check_name("name", input.name, account::MAX_NAME_CHARS);
    let org_name = account::check_name(
        "organization_name",
        input.organization_name,
        account::MAX_ORG_NAME_CHARS,
    );
    let code = CreditCode::parse(input.credit_code)
        .map_err(|e| FieldError::new("credit_code", e.to_string()));
    let phone = input
        .phone
        .filter(|p| !p.trim().is_empty())
        .map(account::check_phone)
        .transpose();
    let locale = account::check_locale(input.locale.unwrap_or(account::DEFAULT_LOCALE));

    let mut errors = Vec::new();
    macro_rules! take {
        ($r:expr) => {
            match $r {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.push(e);
                    None
                }
            }
        };
    }
    let (role, email, _, name, org_name, code, phone, locale) = (
        take!(role),
        take!(email),
        take!(password),
        take!(name),
        take!(org_name),
        take!(code),
        take!(phone),
        take!(locale),
    );
    match (role, email, name, org_name, code, phone, locale) {
        (Some(role), Some(email), Some(name), Some(org), Some(code), Some(phone), Some(locale))
            if errors.is_empty() =>
        {
            Ok(ValidRegistration {
                email,
                name,
                role,
                organization_name: org,
                credit_code: code.into_string(),
                phone,
                locale,
                supervisory_body_id: input.supervisory_body_id,
            })
        }
        _ => Err(errors.into()),
    }
}

/// The services registration needs besides the connection.
pub struct RegisterDeps<'a> {
    pub pii_salt: &'a [u8],
    pub notifier: &'a Notifier,
    pub verification_ttl_hours: u64,
    pub mail_limits: &'a MailSettings,
}

fn role_label(role: Role, locale: &str) -> &'static str {
    match (role, locale) {
        (Role::Enterprise, "en") => "enterprise (seller)",
        (Role::Bidder, "en") => "bidder",
        (Role::Enterprise, _) => "转让方 / 增资企业",
        (Role::Bidder, _) => "意向受让方",
        (_, "en") => "staff",
        _ => "交易机构工作人员",
    }
}

/// Writes the organisation and its first user, with their audit events, in `conn`'s
/// transaction; when the e-mail or the credit code already has an account, creates nothing
/// and mails that account's owners instead (see [`Registered`]).
pub fn register(
    conn: &mut Conn,
    reg: &ValidRegistration,
    password_hash: &str,
    deps: &RegisterDeps,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<Registered, AppError> {
    let body = supervising_body(conn, reg.supervisory_body_id)?;
    if let Some((reason, owners)) = existing_owners(conn, reg)? {
        tell_owners(conn, reg, reason, &owners, deps, meta, now)?;
        return Ok(Registered::AlreadyThere);
    }
    let (user, org) = insert_account(conn, reg, password_hash, body, now)?;
    record_registration(conn, reg, &user, &org, deps.pii_salt, meta, now)?;
    verify_email::send_link(
        conn,
        deps.notifier,
        &user,
        Kind::Welcome,
        deps.verification_ttl_hours,
        json!({"organization": org.name, "role_label": role_label(reg.role, &reg.locale)}),
        now,
    )?;
    Ok(Registered::Created(Box::new((user, org))))
}

/// The body a new organisation belongs to: the one asked for, which must exist (else 422),
/// or the root of the tree (the province).
fn supervising_body(conn: &mut Conn, asked: Option<i64>) -> Result<Option<i64>, AppError> {
    match asked {
        Some(id) => match bodies::find(conn, id)? {
            Some(b) => Ok(Some(b.id)),
            None => Err(AppError::field(
                "supervisory_body_id",
                "no such supervisory body; see GET /api/v1/supervisory-bodies",
            )),
        },
        None => Ok(bodies::root(conn)?.map(|b| b.id)),
    }
}

/// What a registration did. The caller answers the same for both, so nobody learns from the
/// answer whether an address or a company already has an account.
#[derive(Debug, Clone)]
pub enum Registered {
    /// The new user and organisation.
    Created(Box<(User, Organization)>),
    /// The e-mail or the credit code was taken: nothing created, the owners were told.
    AlreadyThere,
}

/// What registration answers, built from the request alone.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegistrationAnswer {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub organization: RegisteredOrganization,
    pub phone: Option<String>,
    pub locale: String,
    /// Always false: a link to confirm the address is on its way.
    pub email_verified: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegisteredOrganization {
    pub name: String,
    pub credit_code: String,
}

impl RegistrationAnswer {
    pub fn of(reg: &ValidRegistration) -> Self {
        Self {
            email: reg.email.clone(),
            name: reg.name.clone(),
            role: reg.role,
            organization: RegisteredOrganization {
                name: reg.organization_name.clone(),
                credit_code: reg.credit_code.clone(),
            },
            phone: reg.phone.clone(),
            locale: reg.locale.clone(),
            email_verified: false,
        }
    }
}

/// Mails about repeated registrations sent per registration at most (a company may have many
/// users; its first ones hear of it).
const MAX_OWNERS_TOLD: usize = 3;

/// Who already holds the e-mail (`"email"`) or, failing that, the credit code
/// (`"credit_code"`).
fn existing_owners(
    conn: &mut Conn,
    reg: &ValidRegistration,
) -> Result<Option<(&'static str, Vec<User>)>, AppError> {
    if let Some(user) = users::find_by_email(conn, &reg.email)? {
        return Ok(Some(("email", vec![user])));
    }
    if let Some(org) = users::organization_by_credit_code(conn, &reg.credit_code)? {
        let mut owners = users::of_organization(conn, org.id)?;
        owners.truncate(MAX_OWNERS_TOLD);
        return Ok(Some(("credit_code", owners)));
    }
    Ok(None)
}

/// A registration for an address or company that already has an account: its owners get a
/// mail (within the per-address daily limit), and the attempt is recorded with the address
/// only as a salted hash.
fn tell_owners(
    conn: &mut Conn,
    reg: &ValidRegistration,
    reason: &'static str,
    owners: &[User],
    deps: &RegisterDeps,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let mut told = Vec::new();
    for owner in owners {
        if !verify_email::address_may_receive(conn, deps.mail_limits, &owner.email, now)? {
            continue;
        }
        deps.notifier.queue(
            conn,
            now,
            &Recipient::of(owner),
            Kind::AccountExists,
            json!({
                "reason": reason,
                "attempt_at": format_beijing(now),
                "client_ip": meta.ip_string().unwrap_or_else(|| "-".into()),
            }),
        )?;
        told.push(owner.id);
    }
    audit::record(
        conn,
        now,
        Event {
            stream: audit::SYSTEM_STREAM.to_string(),
            action: "user.registration_repeated",
            actor: Actor::ANONYMOUS,
            payload: json!({
                "reason": reason,
                "email_hash": audit::pii_hash(deps.pii_salt, &reg.email),
                "owners_told": told,
            }),
            meta,
        },
    )
}

/// The organisation and its first user. [`existing_owners`] looked first, so a unique index
/// fires only when two registrations race: then 409 `email_taken` / `organization_exists`.
fn insert_account(
    conn: &mut Conn,
    reg: &ValidRegistration,
    password_hash: &str,
    body: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(User, Organization), AppError> {
    let org = users::insert_organization(
        conn,
        &NewOrganization {
            name: &reg.organization_name,
            credit_code: &reg.credit_code,
            created_at: to_db(now),
            supervisory_body_id: body,
        },
    )
    .map_err(|e| {
        conflict_or(
            e,
            "organization_exists",
            "an organisation with this credit code is already registered",
        )
    })?;
    let user = users::insert_user(
        conn,
        &NewUser {
            email: &reg.email,
            password_hash,
            name: &reg.name,
            role: reg.role.as_str(),
            organization_id: Some(org.id),
            phone: reg.phone.as_deref(),
            locale: &reg.locale,
            created_at: to_db(now),
            updated_at: to_db(now),
        },
    )
    .map_err(|e| {
        conflict_or(
            e,
            "email_taken",
            "an account with this e-mail already exists",
        )
    })?;
    Ok((user, org))
}

/// The registration's audit events: the organisation's and the user's (personal data hashed).
fn record_registration(
    conn: &mut Conn,
    reg: &ValidRegistration,
    user: &User,
    org: &Organization,
    pii_salt: &[u8],
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let actor = Actor::user(user.id, reg.role);
    audit::record(
        conn,
        now,
        Event {
            stream: audit::org_stream(org.id),
            action: "org.registered",
            actor,
            payload: json!({
                "organization_id": org.id,
                "name": org.name,
                "credit_code": org.credit_code,
            }),
            meta,
        },
    )?;
    audit::record(
        conn,
        now,
        Event {
            stream: audit::user_stream(user.id),
            action: "user.registered",
            actor,
            payload: json!({
                "user_id": user.id,
                "role": reg.role.as_str(),
                "organization_id": org.id,
                "email_hash": audit::pii_hash(pii_salt, &reg.email),
                "phone_hash": reg.phone.as_deref().map(|p| audit::pii_hash(pii_salt, p)),
                "locale": reg.locale,
            }),
            meta,
        },
    )
}

/// A racing insert that hit a unique index becomes the conflict the earlier check reports.
fn conflict_or(e: AppError, code: &'static str, detail: &str) -> AppError {
    match e {
        AppError::Conflict {
            code: "conflict", ..
        } => AppError::conflict(code, detail),
        other => other,
    }
}

/// A staff account to create from the command line.
pub struct NewStaff<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub name: &'a str,
    pub role: Role,
}

/// Validates a staff account (same password policy as everyone).
pub fn validate_staff(s: &NewStaff) -> Result<(String, String), AppError> {
    if !s.role.is_staff() {
        return Err(AppError::field(
            "role",
            "must be operator, auditor or admin",
        ));
    }
    let mut errors = Vec::new();
    let email = account::normalize_email(s.email)
        .map_err(|e| errors.push(e))
        .ok();
    let _ = account::check_password(s.password, s.email).map_err(|e| errors.push(e));
    let name = account::check_name("name", s.name, account::MAX_NAME_CHARS)
        .map_err(|e| errors.push(e))
        .ok();
    match (email, name) {
        (Some(email), Some(name)) if errors.is_empty() => Ok((email, name)),
        _ => Err(errors.into()),
    }
}

/// Inserts a staff user with its audit event (actor: the system, from the CLI).
pub fn create_staff(
    conn: &mut Conn,
    email: &str,
    name: &str,
    role: Role,
    password_hash: &str,
    pii_salt: &[u8],
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    if users::email_taken(conn, email)? {
        return Err(AppError::conflict(
            "email_taken",
            "an account with this e-mail already exists",
        ));
    }
    let user = users::insert_user(
        conn,
        &NewUser {
            email,
            password_hash,
            name,
            role: role.as_str(),
            organization_id: None,
            phone: None,
            locale: account::DEFAULT_LOCALE,
            created_at: to_db(now),
            updated_at: to_db(now),
        },
    )
    .map_err(|e| {
        conflict_or(
            e,
            "email_taken",
            "an account with this e-mail already exists",
        )
    })?;
    audit::record(
        conn,
        now,
        Event {
            stream: audit::user_stream(user.id),
            action: "user.staff_created",
            actor: Actor::SYSTEM,
            payload: json!({
                "user_id": user.id,
                "role": role.as_str(),
                "email_hash": audit::pii_hash(pii_salt, email),
                "via": "cli",
            }),
            meta: &RequestMeta::default(),
        },
    )?;
    Ok(user)
}

/// Places a staff account (an auditor) under a supervising body, so that it sees only the
/// enterprises of that body and below (`asset-exchange user create --supervisory-body`).
/// 422 for no such body; recorded on the user's stream.
pub fn attach_staff_to_body(
    conn: &mut Conn,
    user_id: i64,
    body: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if bodies::find(conn, body)?.is_none() {
        return Err(AppError::field(
            "supervisory_body",
            "no such supervisory body",
        ));
    }
    bodies::attach_user(conn, user_id, Some(body))?;
    audit::record(
        conn,
        now,
        Event {
            stream: audit::user_stream(user_id),
            action: "user.supervisory_body_set",
            actor: Actor::SYSTEM,
            payload: json!({"user_id": user_id, "supervisory_body_id": body}),
            meta: &RequestMeta::default(),
        },
    )
}
