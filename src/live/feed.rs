//! One feed per watched listing and instance. The first subscriber of a listing starts its
//! task; the task reads what changed once per wake-up (the hub, PostgreSQL NOTIFY relayed to
//! the hub, the next time-driven change, or a slow safety re-read), encodes the SSE frames
//! once and broadcasts the same bytes to every subscriber. It stops when the last subscriber
//! leaves or when the auction can no longer change.
//!
//! A subscriber joins the broadcast *before* it reads its replay (`Last-Event-ID`) from the
//! database, and only after the feed has read where it stands: every bid after the replay
//! then reaches it through the broadcast, and what both carried is sent once (bids by `seq`,
//! states by key). A subscriber that falls more than the buffer behind is disconnected (its
//! client reconnects and replays from the database); nothing is buffered for it beyond that.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{Notify, broadcast, watch};
use tokio::time::Instant;

use super::caps::Permit;
use crate::error::AppError;

/// How long a subscriber waits for a new feed's first read before giving up (503).
const READY_WAIT: Duration = Duration::from_secs(10);
/// Pause before a feed retries a failed first read.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// The periods and sizes of the live feeds (from `[live]`).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub keep_alive: Duration,
    pub recheck: Duration,
    pub max_stream: Duration,
    pub max_idle: Duration,
    pub buffer: usize,
}

/// What one SSE frame says, so that a subscriber can leave out what its replay already had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A bid, with its `seq` (the frame's SSE id).
    Bid(i32),
    /// The auction's state; two frames with the same key say the same thing.
    State(u64),
    /// Anything else (a reconnection hint).
    Other,
}

/// SSE frames encoded once: one buffer, each frame a slice of it.
#[derive(Debug, Clone, Default)]
pub struct Frames {
    bytes: Bytes,
    parts: Vec<(Kind, Range<usize>)>,
}

impl Frames {
    pub fn builder() -> FramesBuilder {
        FramesBuilder::default()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

#[derive(Debug, Default)]
pub struct FramesBuilder {
    buf: BytesMut,
    parts: Vec<(Kind, Range<usize>)>,
}

impl FramesBuilder {
    /// Appends one complete frame (ending with a blank line).
    pub fn push(&mut self, kind: Kind, frame: &str) {
        let start = self.buf.len();
        self.buf.extend_from_slice(frame.as_bytes());
        self.parts.push((kind, start..self.buf.len()));
    }

    pub fn finish(self) -> Frames {
        Frames {
            bytes: self.buf.freeze(),
            parts: self.parts,
        }
    }
}

/// One read of a feed's source.
#[derive(Debug, Default)]
pub struct Look {
    /// What changed since the previous read, encoded (nothing on the first read).
    pub frames: Frames,
    /// Nothing can change any more (or there is nothing to watch): the feed ends.
    pub finished: bool,
    /// When the state next changes by time alone (a phase boundary), if it does.
    pub next_change: Option<Duration>,
}

/// What a feed reads and how it encodes it; the API layer, which knows the views, supplies it.
pub trait Source: Send + 'static {
    /// Reads what changed since the previous call. The first call only learns where things
    /// stand (which bid is the last, the current state) and returns no frames.
    fn look(&mut self) -> BoxFuture<'_, Result<Look, AppError>>;
}

/// What is broadcast: the frames of one read, a keep-alive comment, or the end.
#[derive(Debug)]
struct Batch {
    frames: Frames,
    keep_alive: bool,
    end: bool,
}

struct Channel {
    listing_id: i64,
    tx: broadcast::Sender<Arc<Batch>>,
    wake: Notify,
    ready: watch::Sender<bool>,
    ended: AtomicBool,
}

impl Channel {
    fn send(&self, batch: Batch) {
        // No receiver is not an error: the last subscriber may have just left.
        let _ = self.tx.send(Arc::new(batch));
    }
}

struct Entry {
    channel: Arc<Channel>,
    subscribers: usize,
}

/// Every feed of this instance, by listing.
pub struct Feeds {
    map: Mutex<HashMap<i64, Entry>>,
    timing: Timing,
    looks: AtomicU64,
    /// Shutting down: no new feeds.
    closed: AtomicBool,
}

impl Feeds {
    pub fn new(timing: Timing) -> Arc<Self> {
        Arc::new(Self {
            map: Mutex::new(HashMap::new()),
            timing,
            looks: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        })
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes the feed of a listing, if one runs here.
    pub fn publish(&self, listing_id: i64) {
        if let Some(e) = self.lock().get(&listing_id) {
            e.channel.wake.notify_one();
        }
    }

    /// Wakes every feed (after notifications may have been lost).
    pub fn wake_all(&self) {
        for e in self.lock().values() {
            e.channel.wake.notify_one();
        }
    }

    /// Feeds running now.
    pub fn running(&self) -> usize {
        self.lock().len()
    }

    /// Reads done by every feed so far (each serves all of its subscribers).
    pub fn looks(&self) -> u64 {
        self.looks.load(Ordering::Relaxed)
    }

    /// Joins the feed of a listing, starting it with `source()` when none runs, and returns
    /// once the feed knows where it stands.
    pub async fn join(
        self: &Arc<Self>,
        listing_id: i64,
        source: impl FnOnce() -> Box<dyn Source>,
    ) -> Result<Member, AppError> {
        let (channel, rx, start) = {
            let mut map = self.lock();
            if self.closed.load(Ordering::Acquire) {
                return Err(AppError::Unavailable(
                    "this instance is shutting down".into(),
                ));
            }
            match map.get_mut(&listing_id) {
                Some(e) => {
                    e.subscribers += 1;
                    (e.channel.clone(), e.channel.tx.subscribe(), false)
                }
                None => {
                    let (tx, rx) = broadcast::channel(self.timing.buffer);
                    let channel = Arc::new(Channel {
                        listing_id,
                        tx,
                        wake: Notify::new(),
                        ready: watch::Sender::new(false),
                        ended: AtomicBool::new(false),
                    });
                    let entry = Entry {
                        channel: channel.clone(),
                        subscribers: 1,
                    };
                    map.insert(listing_id, entry);
                    (channel, rx, true)
                }
            }
        };
        let member = Member {
            feeds: self.clone(),
            channel: channel.clone(),
            rx,
        };
        if start {
            tokio::spawn(run(Arc::downgrade(self), channel.clone(), source()));
        }
        let mut ready = channel.ready.subscribe();
        let waited =
            tokio::time::timeout(
                READY_WAIT,
                async move { ready.wait_for(|r| *r).await.is_ok() },
            )
            .await;
        match waited {
            Ok(true) => Ok(member),
            _ => Err(AppError::Unavailable(
                "the live feed could not read the auction".into(),
            )),
        }
    }

    fn leave(&self, channel: &Arc<Channel>) {
        let mut map = self.lock();
        let id = channel.listing_id;
        let Some(e) = map
            .get_mut(&id)
            .filter(|e| Arc::ptr_eq(&e.channel, channel))
        else {
            return;
        };
        e.subscribers = e.subscribers.saturating_sub(1);
        if e.subscribers == 0 {
            map.remove(&id);
            channel.ended.store(true, Ordering::Release);
            channel.wake.notify_one();
        }
    }

    fn remove(&self, channel: &Arc<Channel>) {
        let mut map = self.lock();
        if map
            .get(&channel.listing_id)
            .is_some_and(|e| Arc::ptr_eq(&e.channel, channel))
        {
            map.remove(&channel.listing_id);
        }
    }

    /// Ends every feed (at shutdown): their streams end and clients reconnect elsewhere.
    pub fn close_all(&self) {
        let mut map = self.lock();
        self.closed.store(true, Ordering::Release);
        for (_, e) in map.drain() {
            e.channel.ended.store(true, Ordering::Release);
            e.channel.wake.notify_one();
        }
    }
}

/// Ends a feed however its task stops (return, error, panic or abort): no longer listed,
/// its subscribers get the end, anyone waiting for its first read is released.
struct Retire {
    feeds: Weak<Feeds>,
    channel: Arc<Channel>,
}

impl Drop for Retire {
    fn drop(&mut self) {
        if let Some(feeds) = self.feeds.upgrade() {
            feeds.remove(&self.channel);
        }
        self.channel.ended.store(true, Ordering::Release);
        self.channel.send(Batch {
            frames: Frames::default(),
            keep_alive: false,
            end: true,
        });
        self.channel.ready.send_replace(true);
    }
}

fn counted(feeds: &Weak<Feeds>) {
    if let Some(f) = feeds.upgrade() {
        f.looks.fetch_add(1, Ordering::Relaxed);
    }
}

/// The first read, retried until it works or nobody waits any more.
async fn first_look(
    feeds: &Weak<Feeds>,
    channel: &Channel,
    source: &mut dyn Source,
) -> Option<Look> {
    loop {
        if channel.ended.load(Ordering::Acquire) {
            return None;
        }
        match source.look().await {
            Ok(look) => {
                counted(feeds);
                return Some(look);
            }
            Err(e) => {
                tracing::warn!(listing_id = channel.listing_id, error = %e, "live feed cannot read its auction; retrying");
                tokio::select! {
                    () = tokio::time::sleep(RETRY_PAUSE) => {}
                    () = channel.wake.notified() => {}
                }
            }
        }
    }
}

/// The task of one feed.
async fn run(feeds: Weak<Feeds>, channel: Arc<Channel>, mut source: Box<dyn Source>) {
    let Some(timing) = feeds.upgrade().map(|f| f.timing) else {
        return;
    };
    let _retire = Retire {
        feeds: feeds.clone(),
        channel: channel.clone(),
    };
    let Some(first) = first_look(&feeds, &channel, source.as_mut()).await else {
        return;
    };
    channel.ready.send_replace(true);
    if first.finished {
        return;
    }
    let start = Instant::now();
    let mut change_at = first.next_change.map(|d| start + d);
    let (mut last_look, mut last_sent) = (start, start);
    loop {
        let recheck_at = last_look + timing.recheck;
        let look_at = change_at.map_or(recheck_at, |c| c.min(recheck_at));
        let alive_at = last_sent + timing.keep_alive;
        let woken = tokio::select! {
            () = channel.wake.notified() => true,
            () = tokio::time::sleep_until(look_at.min(alive_at)) => false,
        };
        if channel.ended.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        if woken || now >= look_at {
            last_look = now;
            match source.look().await {
                Ok(look) => {
                    counted(&feeds);
                    change_at = look.next_change.map(|d| now + d);
                    if !look.frames.is_empty() {
                        last_sent = now;
                        channel.send(Batch {
                            frames: look.frames,
                            keep_alive: false,
                            end: false,
                        });
                    }
                    if look.finished {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(listing_id = channel.listing_id, error = %e, "live feed read failed; retrying");
                }
            }
        } else if now >= alive_at {
            last_sent = now;
            channel.send(Batch {
                frames: Frames {
                    bytes: Bytes::from_static(KEEP_ALIVE),
                    parts: Vec::new(),
                },
                keep_alive: true,
                end: false,
            });
        }
    }
}

/// A subscriber's place in a feed; leaving is dropping it.
pub struct Member {
    feeds: Arc<Feeds>,
    channel: Arc<Channel>,
    rx: broadcast::Receiver<Arc<Batch>>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.feeds.leave(&self.channel);
    }
}

/// What a subscriber's own read from the database gave it, sent first.
#[derive(Debug)]
pub struct Head {
    pub frames: Frames,
    /// The last bid the client has (from the replay, or the `Last-Event-ID` it sent).
    pub through_seq: i32,
    /// Key of the state frame in the head.
    pub state: Option<u64>,
    /// The auction can no longer change: the stream ends after the head.
    pub finished: bool,
}

struct Subscriber {
    member: Member,
    _permit: Permit,
    through_seq: i32,
    state: Option<u64>,
    deadline: Instant,
    max_idle: Duration,
    last_event: Instant,
    done: bool,
}

impl Member {
    /// The subscriber's event stream: its head, then the feed, until the auction is over,
    /// the client falls behind, or the stream reaches its idle or total time limit.
    pub fn stream(
        self,
        permit: Permit,
        head: Head,
    ) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + 'static {
        let timing = self.feeds.timing;
        let now = Instant::now();
        let first = head.frames.bytes.clone();
        let sub = Subscriber {
            member: self,
            _permit: permit,
            through_seq: head.through_seq,
            state: head.state,
            deadline: now + timing.max_stream,
            max_idle: timing.max_idle,
            last_event: now,
            done: head.finished,
        };
        stream::iter((!first.is_empty()).then_some(first))
            .chain(stream::unfold(sub, |mut sub| async move {
                let next = sub.next().await?;
                Some((next, sub))
            }))
            .map(Ok)
    }
}

impl Subscriber {
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            let until = self.deadline.min(self.last_event + self.max_idle);
            if self.done || Instant::now() >= until {
                return None;
            }
            let received = tokio::select! {
                r = self.member.rx.recv() => r,
                () = tokio::time::sleep_until(until) => {
                    self.done = true;
                    return None;
                }
            };
            match received {
                Ok(batch) => {
                    self.done = batch.end;
                    if batch.keep_alive {
                        return Some(batch.frames.bytes.clone());
                    }
                    if let Some(out) = self.unseen(&batch.frames) {
                        self.last_event = Instant::now();
                        return Some(out);
                    }
                }
                Err(RecvError::Lagged(skipped)) => {
                    tracing::info!(
                        listing_id = self.member.channel.listing_id,
                        skipped,
                        "a live stream fell behind and is disconnected"
                    );
                    self.done = true;
                    return None;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    fn seen(&self, kind: Kind) -> bool {
        match kind {
            Kind::Bid(seq) => seq <= self.through_seq,
            Kind::State(key) => self.state == Some(key),
            Kind::Other => false,
        }
    }

    fn note(&mut self, kind: Kind) {
        match kind {
            Kind::Bid(seq) => self.through_seq = seq,
            Kind::State(key) => self.state = Some(key),
            Kind::Other => {}
        }
    }

    /// The frames this subscriber has not had yet: the shared bytes themselves when that is
    /// all of them (the usual case), a copy of the rest otherwise.
    fn unseen(&mut self, frames: &Frames) -> Option<Bytes> {
        if frames.parts.iter().all(|(k, _)| !self.seen(*k)) {
            for (k, _) in &frames.parts {
                self.note(*k);
            }
            return (!frames.is_empty()).then(|| frames.bytes.clone());
        }
        let mut out = BytesMut::new();
        for (k, range) in &frames.parts {
            if !self.seen(*k) {
                self.note(*k);
                out.extend_from_slice(&frames.bytes[range.clone()]);
            }
        }
        (!out.is_empty()).then(|| out.freeze())
    }
}

#[cfg(test)]
#[path = "feed_tests.rs"]
mod tests;
