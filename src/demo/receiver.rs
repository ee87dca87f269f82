//! A webhook receiver for the demo and for trying the feed by hand: it listens on loopback,
//! checks each delivery's `X-Signature` over the raw body (constant time), drops repeats by
//! `X-Event-Id`, and prints one line per delivery. `asset-exchange demo --webhook-receiver
//! PORT` starts one and registers it; `asset-exchange webhook-receiver` runs one alone.

use std::collections::HashSet;
use std::sync::Mutex;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

use crate::domain::webhook;

/// What the receiver needs: the secret to check signatures with, and the ids seen so far.
struct Receiver {
    secret: String,
    seen: Mutex<HashSet<String>>,
}

/// Starts a receiver on `127.0.0.1:port` on the current actix system; returns its URL.
pub fn start(port: u16, secret: String) -> anyhow::Result<(String, actix_web::dev::Server)> {
    let receiver = web::Data::new(Receiver {
        secret,
        seen: Mutex::new(HashSet::new()),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(receiver.clone())
            .app_data(web::PayloadConfig::new(1 << 20))
            .default_service(web::to(receive))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", port))?;
    let bound = server.addrs().first().map_or(port, |a| a.port());
    Ok((format!("http://127.0.0.1:{bound}/"), server.run()))
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    receiver: web::Data<Receiver>,
) -> HttpResponse {
    let (line, verified) = describe(&req, &body, &receiver);
    println!("{line}");
    if verified {
        HttpResponse::NoContent().finish()
    } else {
        // Not from the exchange (or signed with another secret): refused, and not remembered.
        HttpResponse::Unauthorized().finish()
    }
}

/// The line to print, and whether the signature verifies.
fn describe(req: &HttpRequest, body: &[u8], receiver: &Receiver) -> (String, bool) {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let event_id = header("X-Event-Id");
    let verified = webhook::verify(&receiver.secret, body, &header("X-Signature"));
    let repeat = match receiver.seen.lock() {
        Ok(mut seen) if verified => !seen.insert(event_id.clone()),
        _ => false,
    };
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let listing = parsed["listing_id"]
        .as_i64()
        .map_or_else(|| "-".to_string(), |l| l.to_string());
    let line = format!(
        "webhook  event {:<6} {:<28} listing {:<5} signature {}{}",
        event_id,
        parsed["event"].as_str().unwrap_or("?"),
        listing,
        if verified { "ok" } else { "INVALID" },
        if repeat { "  (repeat: ignored)" } else { "" },
    );
    (line, verified)
}
