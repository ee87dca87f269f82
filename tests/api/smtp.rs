//! A real SMTP server on loopback for the mail tests (mailin-embedded on its own thread), and
//! a small MIME reader for what it receives.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::Engine;
use mailin_embedded::{Handler, Response, Server, response};

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub raw: String,
}

#[derive(Clone)]
struct Capture {
    received: Arc<Mutex<Vec<Received>>>,
    reject: Arc<Vec<String>>,
    delay: std::time::Duration,
    receiving: Arc<std::sync::atomic::AtomicBool>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Capture {
    fn rcpt(&mut self, to: &str) -> Response {
        if self.reject.iter().any(|r| to.contains(r.as_str())) {
            response::NO_MAILBOX
        } else {
            response::OK
        }
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        self.receiving
            .store(true, std::sync::atomic::Ordering::SeqCst);
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        std::thread::sleep(self.delay);
        let raw = String::from_utf8_lossy(&self.data).into_owned();
        self.received.lock().unwrap().push(Received {
            to: self.to.clone(),
            raw,
        });
        response::OK
    }
}

pub struct SmtpServer {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    receiving: Arc<std::sync::atomic::AtomicBool>,
}

impl SmtpServer {
    /// Whether a message transfer has begun.
    pub fn receiving(&self) -> bool {
        self.receiving.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (up to `secs`) until at least `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if self.received().len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.received()
    }
}

/// A port nobody listens on (yet).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts an SMTP server on `port` (0: any) that refuses the listed recipients with 550.
pub fn start(port: u16, reject: &[&str]) -> SmtpServer {
    start_slow(port, reject, std::time::Duration::ZERO)
}

/// The same, taking `delay` to accept each message.
pub fn start_slow(port: u16, reject: &[&str], delay: std::time::Duration) -> SmtpServer {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let receiving = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handler = Capture {
        received: received.clone(),
        reject: Arc::new(reject.iter().map(|s| s.to_string()).collect()),
        delay,
        receiving: receiving.clone(),
        to: Vec::new(),
        data: Vec::new(),
    };
    let mut server = Server::new(handler);
    server
        .with_name("smtp.test")
        .with_num_threads(32)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    SmtpServer {
        port,
        received,
        receiving,
    }
}

/// A parsed message: unfolded headers and the decoded text and HTML parts.
#[derive(Debug)]
pub struct Mail {
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub html: String,
}

impl Mail {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn split_head(raw: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push_str(line.trim_start());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    (headers, body)
}

fn decode(body: &str, encoding: Option<&str>) -> String {
    match encoding.map(str::to_ascii_lowercase).as_deref() {
        Some("base64") => {
            let compact: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .unwrap(),
            )
            .unwrap()
        }
        Some("quoted-printable") => {
            let joined = body.replace("=\r\n", "");
            let bytes = joined.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'=' && i + 2 < bytes.len() {
                    out.push(u8::from_str_radix(&joined[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        }
        _ => body.to_string(),
    }
}

/// Reads a multipart/alternative message as lettre writes it.
pub fn parse(raw: &str) -> Mail {
    let (headers, body) = split_head(raw);
    let ct = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone())
        .unwrap();
    let boundary = ct
        .split("boundary=")
        .nth(1)
        .unwrap()
        .trim_matches('"')
        .to_string();
    let (mut text, mut html) = (String::new(), String::new());
    for part in body.split(&format!("--{boundary}")) {
        let part = part.trim_start_matches("\r\n");
        if part.is_empty() || part.starts_with("--") {
            continue;
        }
        let (h, b) = split_head(part);
        let get = |n: &str| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        };
        let content = decode(b.trim_end_matches("\r\n"), get("content-transfer-encoding"));
        match get("content-type") {
            Some(t) if t.starts_with("text/plain") => text = content,
            Some(t) if t.starts_with("text/html") => html = content,
            _ => {}
        }
    }
    Mail {
        headers,
        text,
        html,
    }
}
