//! Open data in the Open Contracting Data Standard (OCDS) 1.1: one listing is one contracting
//! process (ocid = configured prefix, `-`, project number) and every stage it went through is
//! one release, rebuilt from the times the rows keep. Pure mapping from rows to releases,
//! records and packages; no IO.
//!
//! What the public may not see never leaves here: bidders appear only as bidder codes (竞买号),
//! bids only once their auction has closed, awards and contracts only once the deal is
//! announced (`deals::may_see` for the public), and no stage before a listing's first
//! disclosure exists at all. The README's "Open data (OCDS)" section explains each choice.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::config::OcdsSettings;
use crate::store::models::from_db;
use crate::store::ocds::Process;

mod amounts;
mod mapping;
mod payments;
mod schema;
mod stages;
#[cfg(test)]
mod tests;

pub use amounts::{Amount, to_json_number};
use mapping::release;
pub use schema::{Award, Bid, Bids, Contract, OrgRef, Party, Period, Release, Statistic, Tender};
use stages::numbered;

/// The OCDS version of everything published here.
pub const OCDS_VERSION: &str = "1.1";
const LANGUAGE: &str = "zh";
const CURRENCY: &str = "CNY";
const EXCHANGE_ID: &str = "exchange";

/// RFC 3339 in UTC, as the rest of the API writes instants.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The publisher's side of every package: `[ocds]` settings and the public base URL.
#[derive(Debug, Clone, Copy)]
pub struct Publication<'a> {
    pub settings: &'a OcdsSettings,
    pub base_url: &'a str,
}

impl Publication<'_> {
    pub fn ocid(&self, project_no: &str) -> String {
        format!("{}-{project_no}", self.settings.ocid_prefix)
    }

    /// An absolute URL of this service.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base_url.trim_end_matches('/'))
    }

    fn publisher(&self) -> Publisher {
        Publisher {
            name: self.settings.publisher_name.clone(),
        }
    }

    fn policy(&self) -> Option<String> {
        Some(self.settings.publication_policy.clone()).filter(|p| !p.is_empty())
    }
}

// ---------------------------------------------------------------------------------------
// The published shapes (field names as OCDS spells them).

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleasePackage {
    pub uri: String,
    pub version: &'static str,
    pub published_date: String,
    pub publisher: Publisher,
    pub license: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publication_policy: Option<String>,
    pub extensions: Vec<String>,
    pub releases: Vec<Release>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
}

/// Paging of a release package.
#[derive(Debug, Clone, Serialize)]
pub struct Links {
    pub next: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordPackage {
    pub uri: String,
    pub version: &'static str,
    pub published_date: String,
    pub publisher: Publisher,
    pub license: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publication_policy: Option<String>,
    pub extensions: Vec<String>,
    pub records: Vec<Record>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub ocid: String,
    pub releases: Vec<Release>,
    pub compiled_release: Release,
}

#[derive(Debug, Clone, Serialize)]
pub struct Publisher {
    pub name: String,
}

/// Every release of a listing's process, oldest first; the last one is its current state.
/// Empty if the public may not see the listing.
pub fn releases(pb: &Publication, p: &Process) -> Vec<Release> {
    numbered(p)
        .iter()
        .map(|(s, first)| release(pb, p, s, *first))
        .collect()
}

/// The release of the listing's current state (the newest of [`releases`], built alone).
pub fn current_release(pb: &Publication, p: &Process) -> Option<Release> {
    let (s, first) = numbered(p).pop()?;
    Some(release(pb, p, &s, first))
}

/// The record of one listing: every release and the current state compiled.
pub fn record(pb: &Publication, p: &Process) -> Option<Record> {
    let releases = releases(pb, p);
    let mut compiled = releases.last()?.clone();
    compiled.id = format!("{}-{}", compiled.ocid, compiled.date);
    compiled.tag = vec!["compiled"];
    Some(Record {
        ocid: compiled.ocid.clone(),
        releases,
        compiled_release: compiled,
    })
}

/// A release package of the current state of each listing, in the order given.
/// `published` is used when there is no release to date the package by.
pub fn release_package(
    pb: &Publication,
    processes: &[Process],
    uri: String,
    next: Option<String>,
    published: DateTime<Utc>,
) -> ReleasePackage {
    let releases: Vec<Release> = processes
        .iter()
        .filter_map(|p| current_release(pb, p))
        .collect();
    // "Generated on demand": the date of the last change to the contents.
    let newest = processes
        .iter()
        .map(|p| from_db(p.listing.updated_at))
        .max()
        .unwrap_or(published);
    ReleasePackage {
        uri,
        version: OCDS_VERSION,
        published_date: ts(newest),
        publisher: pb.publisher(),
        license: pb.settings.license.clone(),
        publication_policy: pb.policy(),
        extensions: vec![pb.settings.bids_extension_url.clone()],
        releases,
        links: next.map(|next| Links { next }),
    }
}

/// A record package with the record of one listing; `None` if the public may not see it.
pub fn record_package(pb: &Publication, p: &Process, uri: String) -> Option<RecordPackage> {
    let record = record(pb, p)?;
    Some(RecordPackage {
        uri,
        version: OCDS_VERSION,
        published_date: ts(from_db(p.listing.updated_at)),
        publisher: pb.publisher(),
        license: pb.settings.license.clone(),
        publication_policy: pb.policy(),
        extensions: vec![pb.settings.bids_extension_url.clone()],
        records: vec![record],
    })
}
