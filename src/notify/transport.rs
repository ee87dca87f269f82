//! How a message leaves: SMTP (production), `.eml` files (development) or an in-memory stub
//! (tests). A failure says whether it is worth retrying.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::{MailSettings, MailTransportKind, SmtpTls};

/// A queued message as the worker hands it to a transport.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
}

/// A delivery failure, with a message safe to store (no credentials).
#[derive(Debug, Clone)]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
}

/// What the stub transport keeps of each message.
#[derive(Debug, Clone)]
pub struct StubMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
}

#[derive(Clone)]
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
    Stub(Arc<Mutex<Vec<StubMail>>>),
}

impl Mailer {
    pub fn from_settings(s: &MailSettings) -> anyhow::Result<Self> {
        Ok(match s.transport {
            MailTransportKind::Smtp => {
                let mut b = match s.smtp_tls {
                    SmtpTls::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.smtp_host)
                    }
                    SmtpTls::Starttls => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.smtp_host)
                            .tls(Tls::Required(TlsParameters::new(s.smtp_host.clone())?))
                    }
                    SmtpTls::Tls => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.smtp_host)
                            .tls(Tls::Wrapper(TlsParameters::new(s.smtp_host.clone())?))
                    }
                };
                b = b
                    .port(s.smtp_port)
                    .timeout(Some(Duration::from_secs(s.smtp_timeout_seconds.max(1))));
                if !s.smtp_username.is_empty() {
                    b = b.credentials(Credentials::new(
                        s.smtp_username.clone(),
                        s.smtp_password.expose_secret().to_string(),
                    ));
                }
                Mailer::Smtp(b.build())
            }
            MailTransportKind::File => {
                std::fs::create_dir_all(&s.file_dir).map_err(|e| {
                    anyhow::anyhow!("cannot create mail folder {}: {e}", s.file_dir)
                })?;
                Mailer::File(AsyncFileTransport::<Tokio1Executor>::new(&s.file_dir))
            }
            MailTransportKind::Stub => Mailer::Stub(Arc::new(Mutex::new(Vec::new()))),
        })
    }

    /// Messages the stub transport has "sent" (empty for other transports).
    pub fn stub_outbox(&self) -> Vec<StubMail> {
        match self {
            Mailer::Stub(v) => v.lock().map(|v| v.clone()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    pub async fn send(&self, from: &Mailbox, m: &Outgoing) -> Result<(), SendError> {
        let to: Mailbox = m.to.parse().map_err(|e| SendError {
            permanent: true,
            message: format!("invalid recipient address: {e}"),
        })?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(m.subject.clone())
            .message_id(Some(m.message_id.clone()))
            .header(header::MIME_VERSION_1_0)
            .multipart(MultiPart::alternative_plain_html(
                m.text.clone(),
                m.html.clone(),
            ))
            .map_err(|e| SendError {
                permanent: true,
                message: format!("cannot build message: {e}"),
            })?;
        match self {
            Mailer::Smtp(t) => t.send(message).await.map(|_| ()).map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: smtp_error_text(&e),
            }),
            Mailer::File(t) => t.send(message).await.map(|_| ()).map_err(|e| SendError {
                permanent: false,
                message: format!("file transport: {e}"),
            }),
            Mailer::Stub(v) => {
                if let Ok(mut v) = v.lock() {
                    v.push(StubMail {
                        to: m.to.clone(),
                        subject: m.subject.clone(),
                        text: m.text.clone(),
                        html: m.html.clone(),
                        message_id: m.message_id.clone(),
                    });
                }
                Ok(())
            }
        }
    }
}

/// The SMTP error as text, without anything that could carry credentials.
fn smtp_error_text(e: &lettre::transport::smtp::Error) -> String {
    let code = e
        .status()
        .map(|c| c.to_string())
        .unwrap_or_else(|| "-".into());
    let kind = if e.is_permanent() {
        "permanent"
    } else if e.is_transient() {
        "transient"
    } else {
        "connection"
    };
    let mut text = format!("smtp {kind} error (code {code}): {e}");
    text.truncate(500);
    text
}
