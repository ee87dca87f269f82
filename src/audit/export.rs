//! Exports of the audit trail, and the offline verifier for them.
//!
//! JSONL: a header line, then every event of the exported streams ordered by (stream,
//! stream_seq), then every checkpoint in id order. Each line is the canonical serialisation
//! of its record (fixed field order, no spaces), so a changed byte anywhere is caught either
//! by a hash or signature or by the line no longer being canonical.
//! CSV: the events only, for reading in a spreadsheet (cells that a spreadsheet would run as
//! a formula are prefixed with `'`); verify with the JSONL export.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::chain::{EventBody, format_time};
use super::checkpoint::{CheckpointRecord, TrustedKeys};
use super::merkle::Head;
use super::verify::{Report, Verifier};
use crate::store::audit::StoredEvent;

pub const FORMAT: &str = "asset-exchange-audit-export";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderLine {
    #[serde(rename = "type")]
    kind: String,
    format: String,
    version: u32,
    exported_at: String,
    /// The streams exported, or null for the whole trail.
    streams: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventLine {
    #[serde(rename = "type")]
    kind: String,
    stream: String,
    stream_seq: i64,
    occurred_at: String,
    actor_id: Option<i64>,
    actor_role: Option<String>,
    action: String,
    payload: String,
    client_ip: Option<String>,
    request_id: Option<String>,
    prev_hash: String,
    hash: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointLine {
    #[serde(rename = "type")]
    kind: String,
    id: i64,
    created_at: String,
    streams: i64,
    events: i64,
    root: String,
    heads: Vec<(String, i64, String)>,
    key_id: String,
    signature: String,
}

fn line<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string(v).unwrap_or_default();
    s.push('\n');
    s
}

pub fn header_line(scope: Option<&[String]>, now: DateTime<Utc>) -> String {
    line(&HeaderLine {
        kind: "header".into(),
        format: FORMAT.into(),
        version: 1,
        exported_at: format_time(now),
        streams: scope.map(<[String]>::to_vec),
    })
}

pub fn event_line(e: &StoredEvent) -> String {
    let b = e.body();
    line(&EventLine {
        kind: "event".into(),
        stream: b.stream,
        stream_seq: b.stream_seq,
        occurred_at: format_time(b.occurred_at),
        actor_id: b.actor_id,
        actor_role: b.actor_role,
        action: b.action,
        payload: b.payload,
        client_ip: b.client_ip,
        request_id: b.request_id,
        prev_hash: b.prev_hash,
        hash: e.hash.clone(),
    })
}

pub fn checkpoint_line(c: &CheckpointRecord) -> String {
    line(&CheckpointLine {
        kind: "checkpoint".into(),
        id: c.id,
        created_at: format_time(c.created_at),
        streams: c.streams,
        events: c.events,
        root: c.root.clone(),
        heads: c
            .heads
            .iter()
            .map(|h| (h.stream.clone(), h.seq, h.hash.clone()))
            .collect(),
        key_id: c.key_id.clone(),
        signature: c.signature.clone(),
    })
}

pub const CSV_HEADER: &str = "id,stream,stream_seq,occurred_at,actor_id,actor_role,action,payload,client_ip,request_id,prev_hash,hash\n";

fn csv_cell(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

pub fn csv_row(e: &StoredEvent) -> String {
    let opt = |v: &Option<String>| v.as_deref().map(csv_cell).unwrap_or_default();
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{}\n",
        e.id,
        csv_cell(&e.stream),
        e.stream_seq,
        format_time(e.body().occurred_at),
        e.actor_id.map(|a| a.to_string()).unwrap_or_default(),
        opt(&e.actor_role),
        csv_cell(&e.action),
        csv_cell(&e.payload),
        opt(&e.client_ip),
        opt(&e.request_id),
        e.prev_hash,
        e.hash,
    )
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("bad time {s:?}: {e}"))
}

/// Verifies a JSONL export with no database. `Err` means the file is not a well-formed
/// export at all (the line number says where); tampering inside well-formed records is
/// reported in the `Report`.
pub fn verify_jsonl(text: &str, keys: TrustedKeys) -> Result<Report, String> {
    let mut lines = text.lines().enumerate();
    let (_, first) = lines.next().ok_or("the export is empty")?;
    let header: HeaderLine = serde_json::from_str(first).map_err(|e| format!("line 1: {e}"))?;
    if header.kind != "header" || header.format != FORMAT || header.version != 1 {
        return Err("line 1: not an asset-exchange audit export (version 1)".into());
    }
    if serde_json::to_string(&header).ok().as_deref() != Some(first) {
        return Err("line 1: not in canonical form (altered?)".into());
    }
    let scope: Option<HashSet<String>> = header.streams.map(|s| s.into_iter().collect());
    let mut events: Vec<(EventBody, String)> = Vec::new();
    let mut checkpoints: Vec<CheckpointRecord> = Vec::new();
    for (i, raw) in lines {
        let n = i + 1;
        if raw.is_empty() {
            continue;
        }
        let kind: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| format!("line {n}: {e}"))?;
        match kind.get("type").and_then(|t| t.as_str()) {
            Some("event") => {
                let e: EventLine =
                    serde_json::from_str(raw).map_err(|e| format!("line {n}: {e}"))?;
                if serde_json::to_string(&e).ok().as_deref() != Some(raw) {
                    return Err(format!("line {n}: not in canonical form (altered?)"));
                }
                let body = EventBody {
                    stream: e.stream,
                    stream_seq: e.stream_seq,
                    occurred_at: parse_time(&e.occurred_at)
                        .map_err(|m| format!("line {n}: {m}"))?,
                    actor_id: e.actor_id,
                    actor_role: e.actor_role,
                    action: e.action,
                    payload: e.payload,
                    client_ip: e.client_ip,
                    request_id: e.request_id,
                    prev_hash: e.prev_hash,
                };
                if format_time(body.occurred_at) != e.occurred_at {
                    return Err(format!("line {n}: time not in canonical form (altered?)"));
                }
                events.push((body, e.hash));
            }
            Some("checkpoint") => {
                let c: CheckpointLine =
                    serde_json::from_str(raw).map_err(|e| format!("line {n}: {e}"))?;
                if serde_json::to_string(&c).ok().as_deref() != Some(raw) {
                    return Err(format!("line {n}: not in canonical form (altered?)"));
                }
                let created_at = parse_time(&c.created_at).map_err(|m| format!("line {n}: {m}"))?;
                checkpoints.push(CheckpointRecord {
                    id: c.id,
                    created_at,
                    streams: c.streams,
                    events: c.events,
                    root: c.root,
                    heads: c
                        .heads
                        .into_iter()
                        .map(|(stream, seq, hash)| Head { stream, seq, hash })
                        .collect(),
                    key_id: c.key_id,
                    signature: c.signature,
                });
            }
            _ => return Err(format!("line {n}: unknown record type")),
        }
    }
    let mut v = Verifier::new(keys, scope);
    for c in &checkpoints {
        v.checkpoint(c);
    }
    for (body, hash) in &events {
        v.event(body, hash);
    }
    Ok(v.finish())
}
