//! The published shapes of a release (field names as OCDS spells them).

use super::amounts::Amount;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub ocid: String,
    pub id: String,
    pub date: String,
    pub tag: Vec<&'static str>,
    pub initiation_type: &'static str,
    pub language: &'static str,
    pub parties: Vec<Party>,
    pub buyer: OrgRef,
    pub tender: Tender,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bids: Option<Bids>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub awards: Vec<Award>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contracts: Vec<Contract>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Party {
    pub id: String,
    pub name: String,
    pub roles: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tender {
    pub id: String,
    pub title: String,
    pub description: String,
    pub status: &'static str,
    pub status_details: &'static str,
    pub procuring_entity: OrgRef,
    pub value: Amount,
    pub procurement_method: &'static str,
    pub procurement_method_details: String,
    /// `electronicAuction` (English) or `electronicSubmission` (sealed one-time bid).
    pub submission_method: Vec<&'static str>,
    pub submission_method_details: String,
    /// `priceOnly`: the highest price wins.
    pub award_criteria: &'static str,
    /// How ties are broken, and the pre-emptive right where the listing honours it.
    pub award_criteria_details: String,
    pub tender_period: Period,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub award_period: Option<Period>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_tenderers: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tenderers: Vec<OrgRef>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Period {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
}

/// The bids extension's `bids` object.
#[derive(Debug, Clone, Serialize)]
pub struct Bids {
    pub statistics: Vec<Statistic>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Bid>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Statistic {
    pub id: String,
    pub measure: &'static str,
    pub date: String,
    pub value: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bid {
    pub id: String,
    pub date: String,
    pub status: &'static str,
    pub value: Amount,
    pub tenderers: Vec<OrgRef>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Award {
    pub id: String,
    pub status: &'static str,
    pub date: String,
    pub value: Amount,
    pub suppliers: Vec<OrgRef>,
    /// The winning bid (bids extension), for auctions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_bid: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    pub id: String,
    #[serde(rename = "awardID")]
    pub award_id: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_signed: Option<String>,
    pub value: Amount,
    /// The payment plan: one `financing` milestone per instalment (or one for a lump sum).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub milestones: Vec<Milestone>,
    /// The payments made so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implementation: Option<Implementation>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Milestone {
    pub id: String,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: &'static str,
    pub description: String,
    pub due_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_met: Option<String>,
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Implementation {
    pub transactions: Vec<Transaction>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Transaction {
    pub id: String,
    pub date: String,
    pub value: Amount,
    pub payer: OrgRef,
    pub payee: OrgRef,
}
