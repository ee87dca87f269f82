//! The supervisor's use cases over risk alerts: views, acknowledgement (with its audit
//! event, in one transaction) and the dashboard summary.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::registrations::By;
use crate::audit::{self, Actor, Event};
use crate::domain::calendar::Calendar;
use crate::domain::money::Money;
use crate::domain::risk::{RiskPolicy, Rule};
use std::collections::HashMap;

use crate::domain::scope::{self as domain_scope, Node, Scope};
use crate::domain::supervision::{self, AlertFigure, BodyFigures, DealFigure};
use crate::error::AppError;
use crate::store::Conn;
use crate::store::alerts::{self as store, AlertRow};
use crate::store::bodies::{self, BodyRow};
use crate::store::deals;
use crate::store::models::from_db;

/// A risk alert.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertView {
    pub id: i64,
    /// The rule's stable id, e.g. `single_bidder_deal`.
    pub rule: String,
    /// `low`, `medium` or `high`.
    pub severity: String,
    pub listing_id: Option<i64>,
    pub organization_id: Option<i64>,
    /// What the alert is about (one alert per rule and subject), e.g. `deal:12:round:1`.
    pub subject: String,
    /// The explanation for auditors.
    pub detail: String,
    /// What the rule looks for.
    pub rule_description: String,
    /// The facts behind the alert (addresses, counts, amounts).
    #[schema(value_type = Object)]
    pub evidence: Value,
    pub created_at: DateTime<Utc>,
    /// `open` or `acknowledged`.
    pub status: &'static str,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<i64>,
    pub ack_comment: Option<String>,
}

pub fn view(a: &AlertRow) -> AlertView {
    AlertView {
        id: a.id,
        rule: a.rule.clone(),
        severity: a.severity.clone(),
        listing_id: a.listing_id,
        organization_id: a.organization_id,
        subject: a.subject.clone(),
        detail: a.detail.clone(),
        rule_description: Rule::parse(&a.rule)
            .map(Rule::description)
            .unwrap_or_default()
            .to_string(),
        evidence: serde_json::from_str(&a.evidence).unwrap_or(Value::Null),
        created_at: from_db(a.created_at),
        status: if a.acknowledged_at.is_some() {
            "acknowledged"
        } else {
            "open"
        },
        acknowledged_at: a.acknowledged_at.map(from_db),
        acknowledged_by: a.acknowledged_by,
        ack_comment: a.ack_comment.clone(),
    }
}

/// An auditor acknowledges an alert with a comment; once only.
pub fn acknowledge(conn: &mut Conn, by: &By, id: i64, comment: &str) -> Result<AlertRow, AppError> {
    let comment = comment.trim();
    if comment.is_empty() {
        return Err(AppError::field("comment", "say what was checked"));
    }
    if comment.chars().count() > 2000 {
        return Err(AppError::field(
            "comment",
            "must be at most 2000 characters",
        ));
    }
    let alert = store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such alert"))?;
    if !super::scope::alert_in_scope(conn, &by.user.scope, &alert)? {
        return Err(AppError::not_found("no such alert"));
    }
    if !store::acknowledge(conn, id, by.user.id, comment, by.now)? {
        return Err(AppError::conflict(
            "already_acknowledged",
            "this alert has been acknowledged already",
        ));
    }
    let stream = match (alert.listing_id, alert.organization_id) {
        (Some(l), _) => format!("listing:{l}"),
        (None, Some(o)) => audit::org_stream(o),
        (None, None) => audit::SYSTEM_STREAM.to_string(),
    };
    audit::record(
        conn,
        by.now,
        Event {
            stream,
            action: "alert.acknowledged",
            actor: Actor::user(by.user.id, by.user.role),
            payload: json!({
                "alert_id": id, "rule": alert.rule, "subject": alert.subject,
                "listing_id": alert.listing_id, "comment": comment,
            }),
            meta: by.meta,
        },
    )?;
    store::find(conn, id)?.ok_or_else(|| AppError::not_found("no such alert"))
}

/// One rule of the catalogue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RuleView {
    pub id: &'static str,
    pub severity: &'static str,
    pub description: &'static str,
}

pub fn rules() -> Vec<RuleView> {
    Rule::ALL
        .iter()
        .map(|r| RuleView {
            id: r.id(),
            severity: r.severity().as_str(),
            description: r.description(),
        })
        .collect()
}

/// The thresholds in force, for the catalogue.
pub fn thresholds(p: &RiskPolicy) -> Value {
    json!({
        "deal_floor_percent": p.deal_floor_percent,
        "relist_alert_round": p.relist_alert_round,
        "price_cut_alert_count": p.price_cut_alert_count,
        "appraisal_max_age_months": p.appraisal_max_age_months,
        "countdown_min_active_bidders": p.countdown_min_active_bidders,
        "small_domain_max_accounts": p.small_domain_max_accounts,
        "announcement_min_working_days": p.announcement_min_working_days,
        "snipe_window_seconds": p.snipe_window_seconds,
        "snipe_min_bids": p.snipe_min_bids,
        "snipe_share_percent": p.snipe_share_percent,
        "silent_bidders_min": p.silent_bidders_min,
        "forfeits_alert_count": p.forfeits_alert_count,
        "forfeits_window_days": p.forfeits_window_days,
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Count {
    pub key: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RuleCount {
    pub rule: String,
    pub count: u64,
    pub open: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KindFigures {
    pub kind: String,
    pub deals: u64,
    /// Sum of deal prices, yuan with 2 decimals.
    pub total_value: String,
}

/// The dashboard.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SummaryView {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub alerts_total: u64,
    pub alerts_open: u64,
    pub alerts_by_rule: Vec<RuleCount>,
    pub alerts_by_severity: Vec<Count>,
    /// Keys are Beijing months, `YYYY-MM`.
    pub alerts_by_month: Vec<Count>,
    pub deals: u64,
    /// Sum of all deal prices, yuan with 2 decimals.
    pub deals_total_value: String,
    pub deals_by_kind: Vec<KindFigures>,
    pub single_bidder_deals: u64,
    /// Negotiated deals over all deals, 0–1 with 4 decimals (null without deals).
    pub single_bidder_share: Option<String>,
    /// Mean premium of the deal price over the listing price, percent with 2 decimals.
    pub avg_premium_over_listing_percent: Option<String>,
    /// Mean premium of the deal price over the appraised value, percent with 2 decimals.
    pub avg_premium_over_appraisal_percent: Option<String>,
    /// The body the figures are of (null: the whole platform).
    pub supervisory_body_id: Option<i64>,
    /// The same figures split: the body's own enterprises (`own: true`) and each direct child
    /// body with everything below it. Counts and values add up to the totals above.
    pub by_body: Vec<BodySummary>,
}

/// The figures of one part of the requested body's tree.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BodySummary {
    pub supervisory_body_id: i64,
    pub name: String,
    /// GB/T 2260 region code.
    pub region_code: String,
    /// True for the requested body's own enterprises; false for a child body rolled up.
    pub own: bool,
    pub deals: u64,
    /// Sum of deal prices, yuan with 2 decimals.
    pub total_value: String,
    pub single_bidder_deals: u64,
    pub single_bidder_share: Option<String>,
    pub avg_premium_over_appraisal_percent: Option<String>,
    pub alerts_total: u64,
    pub alerts_open: u64,
}

fn yuan(d: rust_decimal::Decimal) -> String {
    format!("{:.2}", d.round_dp(2))
}

/// The figures the dashboard is made of, each attached to its enterprise's body.
struct Figures {
    alerts: Vec<AlertFigure>,
    deals: Vec<DealFigure>,
}

/// Alerts created and deals awarded in [from, to), with their bodies (an organisation
/// without one counts as the root's).
fn figures(
    conn: &mut Conn,
    root: i64,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Figures, AppError> {
    let orgs: HashMap<i64, Option<i64>> = bodies::organization_bodies(conn)?.into_iter().collect();
    let body = |org: Option<i64>| {
        org.and_then(|o| orgs.get(&o).copied().flatten())
            .unwrap_or(root)
    };
    let alerts = store::tallies(conn, from, to)?
        .into_iter()
        .map(|(rule, severity, at, acknowledged, org)| AlertFigure {
            rule,
            severity,
            created_on: Calendar::beijing_date(from_db(at)),
            acknowledged,
            body: body(org),
        })
        .collect();
    let deals = deals::figures(conn, from, to)?
        .into_iter()
        .map(
            |(kind, price, listing_price, appraised, method, org)| DealFigure {
                kind,
                price: Money::from_fen(price),
                listing_price: Money::from_fen(listing_price),
                appraised: Money::from_fen(appraised),
                negotiated: method == "negotiation",
                body: body(Some(org)),
            },
        )
        .collect();
    Ok(Figures { alerts, deals })
}

/// The dashboard for `scope`: of the requested body (which must be in scope; default: the
/// scope's own body, else the whole province), split by its direct children.
pub fn summary(
    conn: &mut Conn,
    scope: &Scope,
    requested: Option<i64>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<SummaryView, AppError> {
    if let Some(b) = requested
        && (bodies::find(conn, b)?.is_none() || !scope.covers_body(Some(b)))
    {
        return Err(AppError::not_found("no such supervisory body"));
    }
    let tree = bodies::all(conn)?;
    let nodes: Vec<Node> = tree
        .iter()
        .map(|b| Node {
            id: b.id,
            parent_id: b.parent_id,
        })
        .collect();
    let root = bodies::root(conn)?.map_or(0, |r| r.id);
    let mut f = figures(conn, root, from, to)?;
    let focus = requested.or(scope.body());
    if let Some(b) = focus {
        let within = domain_scope::subtree(b, &nodes);
        f.alerts.retain(|a| within.contains(&a.body));
        f.deals.retain(|d| within.contains(&d.body));
    }
    let parts = supervision::by_body(focus.unwrap_or(root), &nodes, &f.deals, &f.alerts);
    let names: HashMap<i64, &BodyRow> = tree.iter().map(|b| (b.id, b)).collect();
    let by_body = parts
        .iter()
        .map(|p| body_view(p, names.get(&p.body_id).copied()))
        .collect();
    let mut view = totals(from, to, &f.alerts, &f.deals);
    view.supervisory_body_id = focus;
    view.by_body = by_body;
    Ok(view)
}

fn body_view(p: &BodyFigures, body: Option<&BodyRow>) -> BodySummary {
    BodySummary {
        supervisory_body_id: p.body_id,
        name: body.map(|b| b.name.clone()).unwrap_or_default(),
        region_code: body.map(|b| b.region_code.clone()).unwrap_or_default(),
        own: p.own,
        deals: p.deals.deals,
        total_value: yuan(p.deals.total_value),
        single_bidder_deals: p.deals.single_bidder_deals,
        single_bidder_share: p.deals.single_bidder_share.map(|s| format!("{s:.4}")),
        avg_premium_over_appraisal_percent: p
            .deals
            .avg_premium_over_appraisal_percent
            .map(|x| format!("{x:.2}")),
        alerts_total: p.alerts.total,
        alerts_open: p.alerts.open,
    }
}

fn totals(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    alerts: &[AlertFigure],
    figures: &[DealFigure],
) -> SummaryView {
    let counts = supervision::count_alerts(alerts);
    let d = supervision::summarize_deals(figures);
    let counted = |m: std::collections::BTreeMap<String, u64>| {
        m.into_iter()
            .map(|(key, count)| Count { key, count })
            .collect()
    };
    SummaryView {
        from,
        to,
        supervisory_body_id: None,
        by_body: Vec::new(),
        alerts_total: counts.total,
        alerts_open: counts.open,
        alerts_by_rule: counts
            .by_rule
            .into_iter()
            .map(|(rule, (count, open))| RuleCount { rule, count, open })
            .collect(),
        alerts_by_severity: counted(counts.by_severity),
        alerts_by_month: counted(counts.by_month),
        deals: d.deals,
        deals_total_value: yuan(d.total_value),
        deals_by_kind: d
            .by_kind
            .into_iter()
            .map(|(kind, (deals, value))| KindFigures {
                kind,
                deals,
                total_value: yuan(value),
            })
            .collect(),
        single_bidder_deals: d.single_bidder_deals,
        single_bidder_share: d.single_bidder_share.map(|s| format!("{s:.4}")),
        avg_premium_over_listing_percent: d
            .avg_premium_over_listing_percent
            .map(|p| format!("{p:.2}")),
        avg_premium_over_appraisal_percent: d
            .avg_premium_over_appraisal_percent
            .map(|p| format!("{p:.2}")),
    }
}
