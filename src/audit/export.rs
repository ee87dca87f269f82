//! Exports of the audit trail, and the offline verifier for them.
//!
//! JSONL: a header line, then every event of the exported streams ordered by (stream,
//! stream_seq), then every checkpoint in id order; an export of the whole trail then lists
//! the transparency log: each leaf in order (which event it logs) and every signed log
//! checkpoint, so the verifier rebuilds the tree and checks each signed root offline. Each line is the canonical serialisation
//! of its record (fixed field order, no spaces), so a changed byte anywhere is caught either
//! by a hash or signature or by the line no longer being canonical.
//! CSV: the events only, for reading in a spreadsheet (cells that a spreadsheet would run as
//! a formula are prefixed with `'`); verify with the JSONL export.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::chain::{self, EventBody, format_time};
use super::checkpoint::{CheckpointRecord, TrustedKeys};
use super::logcheck::{LOG_STREAM, signed_by_trusted};
use super::merkle::Head;
use super::note::Note;
use super::tlog::{self, Frontier};
use super::verify::{Invalid, Report, Verifier};
use crate::error::AppError;
use crate::store::Db;
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

/// The event a leaf of the log holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogLeafLine {
    #[serde(rename = "type")]
    kind: String,
    index: u64,
    stream: String,
    stream_seq: i64,
}

/// A signed log checkpoint (C2SP signed note).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogCheckpointLine {
    #[serde(rename = "type")]
    kind: String,
    note: String,
}

fn line<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string(v).unwrap_or_default();
    s.push('\n');
    s
}

/// An event line, serialised from the stored row as borrowed (the same fields in the same
/// order as [`EventLine`], so the same bytes).
#[derive(Serialize)]
struct EventLineRef<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    stream: &'a str,
    stream_seq: i64,
    occurred_at: &'a str,
    actor_id: Option<i64>,
    actor_role: Option<&'a str>,
    action: &'a str,
    payload: &'a str,
    client_ip: Option<&'a str>,
    request_id: Option<&'a str>,
    prev_hash: &'a str,
    hash: &'a str,
}

/// The log leaf line, borrowed (as [`LogLeafLine`]).
#[derive(Serialize)]
struct LogLeafLineRef<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u64,
    stream: &'a str,
    stream_seq: i64,
}

/// Where an export is written: lines go into a buffer that is handed on in chunks of about
/// `chunk` bytes as it fills, so a streamed export holds one chunk (and one batch of rows)
/// at a time. The last chunk is kept back until [`Out::finish`], so a reader that got the
/// end of an export got all of it. An error from `send` (the reader went away) stops the
/// export.
pub struct Out<'a> {
    buf: Vec<u8>,
    chunk: usize,
    send: &'a mut dyn FnMut(Vec<u8>) -> Result<(), AppError>,
}

impl<'a> Out<'a> {
    pub fn new(chunk: usize, send: &'a mut dyn FnMut(Vec<u8>) -> Result<(), AppError>) -> Self {
        Self {
            buf: Vec::with_capacity(chunk.min(1 << 20) + 1024),
            chunk,
            send,
        }
    }

    /// Makes room for the next line: hands the buffer on if it is full.
    fn room(&mut self) -> Result<&mut Vec<u8>, AppError> {
        if self.buf.len() >= self.chunk {
            let next = Vec::with_capacity(self.chunk.min(1 << 20) + 1024);
            (self.send)(std::mem::replace(&mut self.buf, next))?;
        }
        Ok(&mut self.buf)
    }

    fn text(&mut self, s: &str) -> Result<(), AppError> {
        self.room()?.extend_from_slice(s.as_bytes());
        Ok(())
    }

    fn json<T: Serialize>(&mut self, v: &T) -> Result<(), AppError> {
        let buf = self.room()?;
        serde_json::to_writer(&mut *buf, v).map_err(AppError::internal)?;
        buf.push(b'\n');
        Ok(())
    }

    /// What was kept back: the end of the export.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
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

/// Writes the line of event `e`.
fn put_event(out: &mut Out, e: &StoredEvent) -> Result<(), AppError> {
    chain::with_time_text(e.occurred_at, |occurred_at| {
        out.json(&EventLineRef {
            kind: "event",
            stream: &e.stream,
            stream_seq: e.stream_seq,
            occurred_at,
            actor_id: e.actor_id,
            actor_role: e.actor_role.as_deref(),
            action: &e.action,
            payload: &e.payload,
            client_ip: e.client_ip.as_deref(),
            request_id: e.request_id.as_deref(),
            prev_hash: &e.prev_hash,
            hash: &e.hash,
        })
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

pub fn log_leaf_line(index: i64, stream: &str, stream_seq: i64) -> String {
    line(&LogLeafLine {
        kind: "log_leaf".into(),
        index: u64::try_from(index).unwrap_or(0),
        stream: stream.to_string(),
        stream_seq,
    })
}

pub fn log_checkpoint_line(note: &str) -> String {
    line(&LogCheckpointLine {
        kind: "log_checkpoint".into(),
        note: note.to_string(),
    })
}

/// The JSONL export of `stream` (or of every stream), keeping the events `shown` allows;
/// `scope` is what the header names (`None`: the whole trail, which also lists the log).
/// Built in memory: [`write_jsonl`] streams the same bytes.
pub fn jsonl(
    db: &Db,
    now: DateTime<Utc>,
    stream: Option<&str>,
    scope: Option<Vec<String>>,
    shown: impl Fn(&StoredEvent) -> bool,
) -> Result<String, AppError> {
    let mut never = |_: Vec<u8>| Ok(());
    let mut out = Out::new(usize::MAX, &mut never);
    write_jsonl(db, now, stream, scope, shown, &mut out)?;
    String::from_utf8(out.finish()).map_err(AppError::internal)
}

/// [`jsonl`] into `out`, a batch of rows at a time.
pub fn write_jsonl(
    db: &Db,
    now: DateTime<Utc>,
    stream: Option<&str>,
    scope: Option<Vec<String>>,
    shown: impl Fn(&StoredEvent) -> bool,
    out: &mut Out,
) -> Result<(), AppError> {
    out.text(&header_line(scope.as_deref(), now))?;
    // The log as it stood when the export began: every leaf's event is read below.
    let logged = db.run_blocking(super::log::size)?;
    super::try_each_event(db, stream, |e| {
        if shown(e) {
            put_event(out, e)?;
        }
        Ok(())
    })?;
    for cp in db.run_blocking(super::checkpoints)? {
        out.text(&checkpoint_line(&cp))?;
    }
    if scope.is_none() {
        super::log::each_leaf(db, logged, |i, stream, seq| {
            out.json(&LogLeafLineRef {
                kind: "log_leaf",
                index: u64::try_from(i).unwrap_or(0),
                stream,
                stream_seq: seq,
            })
        })?;
        for note in db.run_blocking(move |c| super::log::checkpoint_notes(c, logged))? {
            out.text(&log_checkpoint_line(&note))?;
        }
    }
    Ok(())
}

/// The CSV export of `stream` (or of every stream), keeping the events `shown` allows, into
/// `out`.
pub fn write_csv(
    db: &Db,
    stream: Option<&str>,
    shown: impl Fn(&StoredEvent) -> bool,
    out: &mut Out,
) -> Result<(), AppError> {
    out.text(CSV_HEADER)?;
    super::try_each_event(db, stream, |e| {
        if shown(e) {
            csv_row_into(out.room()?, e);
        }
        Ok(())
    })
}

/// [`write_csv`] built in memory.
pub fn csv(
    db: &Db,
    stream: Option<&str>,
    shown: impl Fn(&StoredEvent) -> bool,
) -> Result<String, AppError> {
    let mut never = |_: Vec<u8>| Ok(());
    let mut out = Out::new(usize::MAX, &mut never);
    write_csv(db, stream, shown, &mut out)?;
    String::from_utf8(out.finish()).map_err(AppError::internal)
}

pub const CSV_HEADER: &str = "id,stream,stream_seq,occurred_at,actor_id,actor_role,action,payload,client_ip,request_id,prev_hash,hash\n";

/// A CSV cell: a value a spreadsheet would run as a formula gets a leading `'`, and a value
/// with a separator, quote or line break is quoted.
fn csv_cell(out: &mut Vec<u8>, s: &str) {
    let guard = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = s.contains([',', '"', '\n', '\r']);
    if quote {
        out.push(b'"');
    }
    if guard {
        out.push(b'\'');
    }
    if quote {
        for piece in s.split_inclusive('"') {
            out.extend_from_slice(piece.as_bytes());
            if piece.ends_with('"') {
                out.push(b'"');
            }
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn csv_int(out: &mut Vec<u8>, v: Option<i64>) {
    use std::io::Write;
    if let Some(v) = v {
        let _ = write!(out, "{v}");
    }
}

/// The CSV row of `e`, appended to `out`.
pub fn csv_row_into(out: &mut Vec<u8>, e: &StoredEvent) {
    let opt = |out: &mut Vec<u8>, v: &Option<String>| {
        if let Some(v) = v {
            csv_cell(out, v);
        }
    };
    csv_int(out, Some(e.id));
    out.push(b',');
    csv_cell(out, &e.stream);
    out.push(b',');
    csv_int(out, Some(e.stream_seq));
    out.push(b',');
    chain::with_time_text(e.occurred_at, |t| out.extend_from_slice(t.as_bytes()));
    out.push(b',');
    csv_int(out, e.actor_id);
    out.push(b',');
    opt(out, &e.actor_role);
    out.push(b',');
    csv_cell(out, &e.action);
    out.push(b',');
    csv_cell(out, &e.payload);
    out.push(b',');
    opt(out, &e.client_ip);
    out.push(b',');
    opt(out, &e.request_id);
    out.push(b',');
    out.extend_from_slice(e.prev_hash.as_bytes());
    out.push(b',');
    out.extend_from_slice(e.hash.as_bytes());
    out.push(b'\n');
}

/// The CSV row of `e`.
pub fn csv_row(e: &StoredEvent) -> String {
    let mut out = Vec::new();
    csv_row_into(&mut out, e);
    String::from_utf8(out).unwrap_or_default()
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
    let mut log = LogLines::default();
    for (i, raw) in lines {
        let n = i + 1;
        if raw.is_empty() {
            continue;
        }
        let kind: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| format!("line {n}: {e}"))?;
        match kind.get("type").and_then(|t| t.as_str()) {
            Some("event") => {
                let e: EventLine = canonical(raw).map_err(|m| format!("line {n}: {m}"))?;
                events.push(event_of(e).map_err(|m| format!("line {n}: {m}"))?);
            }
            Some("checkpoint") => {
                let c: CheckpointLine = canonical(raw).map_err(|m| format!("line {n}: {m}"))?;
                checkpoints.push(checkpoint_of(c).map_err(|m| format!("line {n}: {m}"))?);
            }
            Some("log_leaf") => {
                let l: LogLeafLine = canonical(raw).map_err(|m| format!("line {n}: {m}"))?;
                log.leaves.push((l.index, l.stream, l.stream_seq));
            }
            Some("log_checkpoint") => {
                let c: LogCheckpointLine = canonical(raw).map_err(|m| format!("line {n}: {m}"))?;
                log.notes.push(c.note);
            }
            _ => return Err(format!("line {n}: unknown record type")),
        }
    }
    let whole = scope.is_none();
    let mut v = Verifier::new(keys.clone(), scope);
    for c in &checkpoints {
        v.checkpoint(c);
    }
    for (body, hash) in &events {
        v.event(body, hash);
    }
    let mut report = v.finish();
    // An export from before the log (or of part of the trail) has no log lines to check.
    if whole && !(log.leaves.is_empty() && log.notes.is_empty()) {
        log.check(&events, &keys, &mut report);
    }
    Ok(report)
}

fn event_of(e: EventLine) -> Result<(EventBody, String), String> {
    let body = EventBody {
        stream: e.stream,
        stream_seq: e.stream_seq,
        occurred_at: parse_time(&e.occurred_at)?,
        actor_id: e.actor_id,
        actor_role: e.actor_role,
        action: e.action,
        payload: e.payload,
        client_ip: e.client_ip,
        request_id: e.request_id,
        prev_hash: e.prev_hash,
    };
    if format_time(body.occurred_at) != e.occurred_at {
        return Err("time not in canonical form (altered?)".into());
    }
    Ok((body, e.hash))
}

fn checkpoint_of(c: CheckpointLine) -> Result<CheckpointRecord, String> {
    Ok(CheckpointRecord {
        id: c.id,
        created_at: parse_time(&c.created_at)?,
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
    })
}

/// A record parsed from its line, which must be the record's canonical form.
fn canonical<T: Serialize + for<'de> Deserialize<'de>>(raw: &str) -> Result<T, String> {
    let v: T = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    if serde_json::to_string(&v).ok().as_deref() != Some(raw) {
        return Err("not in canonical form (altered?)".into());
    }
    Ok(v)
}

/// The log as an export of the whole trail lists it.
#[derive(Default)]
struct LogLines {
    leaves: Vec<(u64, String, i64)>,
    notes: Vec<String>,
}

impl LogLines {
    /// Rebuilds the tree from the events the leaves name (each leaf in order, each event
    /// exactly once) and checks every signed checkpoint's signature and root, as the database
    /// verifier does.
    fn check(&self, events: &[(EventBody, String)], keys: &TrustedKeys, report: &mut Report) {
        let at = |seq: u64, reason: &'static str| Invalid {
            stream: LOG_STREAM.to_string(),
            stream_seq: i64::try_from(seq).unwrap_or(i64::MAX),
            reason,
            table: None,
        };
        let mut hashes: HashMap<(&str, i64), &str> = events
            .iter()
            .map(|(b, h)| ((b.stream.as_str(), b.stream_seq), h.as_str()))
            .collect();
        let mut targets: Vec<(u64, tlog::Hash)> = Vec::new();
        for text in &self.notes {
            match Note::parse(text) {
                Ok(n) if signed_by_trusted(&n, keys) => {
                    targets.push((n.checkpoint.size, n.checkpoint.root));
                }
                Ok(n) => report.add(at(n.checkpoint.size, "bad_log_signature")),
                Err(_) => report.add(at(0, "bad_log_signature")),
            }
        }
        targets.sort_by_key(|t| t.0);
        let mut next = targets.iter().peekable();
        let mut frontier = Frontier::default();
        for (index, stream, seq) in &self.leaves {
            let leaf = hashes
                .remove(&(stream.as_str(), *seq))
                .and_then(tlog::leaf_hash_hex);
            match leaf {
                Some(leaf) if *index == frontier.size => frontier.append(leaf),
                _ => {
                    report.add(at(frontier.size, "log_leaf_mismatch"));
                    return;
                }
            };
            while let Some((size, root)) = next.next_if(|t| t.0 <= frontier.size) {
                if *size == frontier.size && frontier.root() != *root {
                    report.add(at(*size, "bad_log_root"));
                }
            }
        }
        // Events written while the export ran are in it but not in its leaves: whether every
        // event is logged is the database verifier's check (`log_incomplete`).
        for (size, _) in next {
            report.add(at(*size, "log_rolled_back"));
        }
        report.log_size = frontier.size;
        report.log_checkpoints_checked = self.notes.len() as u64;
    }
}
