//! The feed machinery with a scripted source: one read per wake-up whatever the number of
//! subscribers, the same bytes for everyone, slow subscribers dropped, exact replay overlap.

use std::sync::Mutex as StdMutex;

use super::*;
use crate::live::caps::Caps;

/// A source that returns whatever the test queued (one bid per queued seq).
#[derive(Clone, Default)]
struct Script {
    queued: Arc<StdMutex<Vec<i32>>>,
    finish: Arc<AtomicBool>,
    reads: Arc<AtomicU64>,
}

impl Script {
    fn bid(&self, seq: i32) {
        self.queued.lock().unwrap().push(seq);
    }
}

impl Source for Script {
    fn look(&mut self) -> BoxFuture<'_, Result<Look, AppError>> {
        Box::pin(async move {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let mut b = Frames::builder();
            for seq in self.queued.lock().unwrap().drain(..) {
                b.push(
                    Kind::Bid(seq),
                    &format!("id: {seq}\nevent: bid\ndata: {{}}\n\n"),
                );
            }
            Ok(Look {
                frames: b.finish(),
                finished: self.finish.load(Ordering::SeqCst),
                next_change: None,
            })
        })
    }
}

fn timing(buffer: usize) -> Timing {
    Timing {
        keep_alive: Duration::from_secs(60),
        recheck: Duration::from_secs(60),
        max_stream: Duration::from_secs(60),
        max_idle: Duration::from_secs(60),
        buffer,
    }
}

fn head(through_seq: i32) -> Head {
    Head {
        frames: Frames::default(),
        through_seq,
        state: None,
        finished: false,
    }
}

async fn subscribe(
    feeds: &Arc<Feeds>,
    script: &Script,
    through_seq: i32,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + use<> {
    let s = script.clone();
    let member = feeds.join(7, move || Box::new(s)).await.unwrap();
    let permit = Caps::new(100, 100).admit(None).unwrap();
    member.stream(permit, head(through_seq))
}

async fn next_text(
    s: &mut (impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Unpin),
) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .expect("an answer within 5 s")
        .map(|b| String::from_utf8(b.unwrap().to_vec()).unwrap())
}

#[tokio::test]
async fn one_read_per_change_serves_every_subscriber_with_the_same_bytes() {
    let feeds = Feeds::new(timing(16));
    let script = Script::default();
    let mut subs = Vec::new();
    for _ in 0..5 {
        subs.push(Box::pin(subscribe(&feeds, &script, 0).await));
    }
    assert_eq!(script.reads.load(Ordering::SeqCst), 1, "one first read");
    for seq in 1..=3 {
        script.bid(seq);
        feeds.publish(7);
        for s in &mut subs {
            let text = next_text(s).await.unwrap();
            assert_eq!(text, format!("id: {seq}\nevent: bid\ndata: {{}}\n\n"));
        }
    }
    assert_eq!(
        script.reads.load(Ordering::SeqCst),
        4,
        "one read per change"
    );
    assert_eq!(feeds.looks(), 4);
    assert_eq!(feeds.running(), 1);
    drop(subs);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        feeds.running(),
        0,
        "the last subscriber leaving stops the feed"
    );
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_dropped_and_the_others_continue() {
    let feeds = Feeds::new(timing(4));
    let script = Script::default();
    let mut fast = Box::pin(subscribe(&feeds, &script, 0).await);
    let mut slow = Box::pin(subscribe(&feeds, &script, 0).await);
    for seq in 1..=10 {
        script.bid(seq);
        feeds.publish(7);
        assert!(
            next_text(&mut fast)
                .await
                .unwrap()
                .starts_with(&format!("id: {seq}\n"))
        );
    }
    // The slow one never read: it gets nothing more than the buffer held, then its end.
    let mut got = Vec::new();
    while let Some(t) = next_text(&mut slow).await {
        got.push(t);
    }
    assert!(got.len() < 10, "{got:?}");
    script.bid(11);
    feeds.publish(7);
    assert!(next_text(&mut fast).await.unwrap().starts_with("id: 11\n"));
}

#[tokio::test]
async fn what_the_replay_had_is_not_sent_again() {
    let feeds = Feeds::new(timing(16));
    let script = Script::default();
    let mut sub = Box::pin(subscribe(&feeds, &script, 2).await);
    for seq in 1..=4 {
        script.bid(seq);
    }
    feeds.publish(7);
    let text = next_text(&mut sub).await.unwrap();
    assert_eq!(
        text,
        "id: 3\nevent: bid\ndata: {}\n\nid: 4\nevent: bid\ndata: {}\n\n"
    );
}

#[tokio::test]
async fn a_finished_auction_ends_every_stream_and_the_feed() {
    let feeds = Feeds::new(timing(16));
    let script = Script::default();
    let mut a = Box::pin(subscribe(&feeds, &script, 0).await);
    let mut b = Box::pin(subscribe(&feeds, &script, 0).await);
    script.bid(1);
    script.finish.store(true, Ordering::SeqCst);
    feeds.publish(7);
    for s in [&mut a, &mut b] {
        assert!(next_text(s).await.unwrap().starts_with("id: 1\n"));
        assert_eq!(next_text(s).await, None, "then the stream ends");
    }
    assert_eq!(feeds.running(), 0);
}

#[tokio::test]
async fn streams_end_after_their_idle_and_total_limits() {
    let mut t = timing(16);
    t.keep_alive = Duration::from_millis(50);
    t.max_idle = Duration::from_millis(300);
    let feeds = Feeds::new(t);
    let script = Script::default();
    let mut idle = Box::pin(subscribe(&feeds, &script, 0).await);
    let started = Instant::now();
    let mut keep_alives = 0;
    while let Some(text) = next_text(&mut idle).await {
        assert_eq!(text, ": keep-alive\n\n");
        keep_alives += 1;
    }
    assert!(keep_alives >= 2, "{keep_alives}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    let mut t = timing(16);
    t.max_stream = Duration::from_millis(200);
    let feeds = Feeds::new(t);
    let mut busy = Box::pin(subscribe(&feeds, &script, 0).await);
    let started = Instant::now();
    let mut seq = 0;
    loop {
        seq += 1;
        script.bid(seq);
        feeds.publish(7);
        if next_text(&mut busy).await.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(started.elapsed() < Duration::from_secs(2));
}
