//! The supervision tree's use cases (admins only): a new supervising body, and moving an
//! enterprise under another body. Each is one transaction with its audit event.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::registrations::By;
use crate::audit::{self, Actor, Event};
use crate::domain::scope::{MAX_BODY_NAME_CHARS, valid_region_code};
use crate::error::{AppError, FieldProblem};
use crate::store::Conn;
use crate::store::bodies::{self as store, BodyRow};

/// A supervising body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BodyView {
    pub id: i64,
    /// e.g. `杭州市国资委`.
    pub name: String,
    /// GB/T 2260 region code, e.g. `330100`.
    pub region_code: String,
    /// The body above (null: the province, the root).
    pub parent_id: Option<i64>,
}

impl From<&BodyRow> for BodyView {
    fn from(b: &BodyRow) -> Self {
        Self {
            id: b.id,
            name: b.name.clone(),
            region_code: b.region_code.clone(),
            parent_id: b.parent_id,
        }
    }
}

/// What an admin sends to add a body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBody {
    pub name: String,
    /// GB/T 2260 region code: six digits.
    #[schema(example = "330106")]
    pub region_code: String,
    /// The body above it (omitted: a new root, which only an empty tree should get).
    pub parent_id: Option<i64>,
}

/// Every body, in id order: the tree as a flat list.
pub fn list(conn: &mut Conn) -> Result<Vec<BodyView>, AppError> {
    Ok(store::all(conn)?.iter().map(BodyView::from).collect())
}

fn check(conn: &mut Conn, input: &NewBody) -> Result<(), AppError> {
    let mut errors = Vec::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > MAX_BODY_NAME_CHARS {
        errors.push(("name", format!("1 to {MAX_BODY_NAME_CHARS} characters")));
    }
    if !valid_region_code(&input.region_code) {
        errors.push(("region_code", "six digits (GB/T 2260), e.g. 330106".into()));
    }
    if let Some(p) = input.parent_id
        && store::find(conn, p)?.is_none()
    {
        errors.push(("parent_id", "no such supervisory body".into()));
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(AppError::Validation(
        errors
            .into_iter()
            .map(|(field, message)| FieldProblem {
                field: field.into(),
                message,
            })
            .collect(),
    ))
}

/// Adds a body under `parent_id`: 422 on bad fields or an unknown parent, 409
/// `region_code_taken` when the code exists.
pub fn create(conn: &mut Conn, by: &By, input: &NewBody) -> Result<BodyView, AppError> {
    check(conn, input)?;
    if store::code_taken(conn, &input.region_code)? {
        return Err(AppError::conflict(
            "region_code_taken",
            "a supervisory body with this region code exists",
        ));
    }
    let row = store::insert(
        conn,
        input.name.trim(),
        &input.region_code,
        input.parent_id,
        by.now,
    )?;
    audit::record(
        conn,
        by.now,
        Event {
            stream: audit::SYSTEM_STREAM.to_string(),
            action: "supervisory_body.created",
            actor: Actor::user(by.user.id, by.user.role),
            payload: json!({
                "body_id": row.id, "name": row.name, "region_code": row.region_code,
                "parent_id": row.parent_id,
            }),
            meta: by.meta,
        },
    )?;
    Ok(BodyView::from(&row))
}

/// What an admin sends to move an enterprise.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attach {
    pub supervisory_body_id: i64,
}

/// The organisation's body after a change.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrganizationBody {
    pub organization_id: i64,
    pub supervisory_body_id: i64,
    /// The body it belonged to before.
    pub previous_body_id: Option<i64>,
}

/// Attaches the organisation to another body: 404 for no such organisation, 422 for no
/// such body; recorded on the organisation's stream.
pub fn attach(
    conn: &mut Conn,
    by: &By,
    organization_id: i64,
    input: &Attach,
) -> Result<OrganizationBody, AppError> {
    let previous = store::of_organization(conn, organization_id)?
        .ok_or_else(|| AppError::not_found("no such organisation"))?;
    if store::find(conn, input.supervisory_body_id)?.is_none() {
        return Err(AppError::field(
            "supervisory_body_id",
            "no such supervisory body",
        ));
    }
    store::attach_organization(conn, organization_id, input.supervisory_body_id)?;
    audit::record(
        conn,
        by.now,
        Event {
            stream: audit::org_stream(organization_id),
            action: "organization.supervisory_body_changed",
            actor: Actor::user(by.user.id, by.user.role),
            payload: json!({
                "organization_id": organization_id,
                "from": previous, "to": input.supervisory_body_id,
            }),
            meta: by.meta,
        },
    )?;
    Ok(OrganizationBody {
        organization_id,
        supervisory_body_id: input.supervisory_body_id,
        previous_body_id: previous,
    })
}
