//! Outgoing mail: SMTP when `SMTP_URL` is set, otherwise, in dev only, the development
//! outbox table (`GET /v1/dev/outbox`).
//!
//! Mails carry usable tokens (reset links), so the outbox is a developer's mail catcher,
//! never a queue: outside dev, without `SMTP_URL` (which production refuses), a mail is
//! dropped with a warning and nothing is stored, and the outbox is emptied at start so
//! no row written by an earlier version keeps a usable link.
//!
//! SMTP goes through `lettre`, so the relay may ask for TLS and authentication:
//! - `smtps://user:pass@host:465`: implicit TLS;
//! - `smtp://user:pass@host:587?tls=required`: STARTTLS, and nothing (not even the
//!   credentials) is sent if the server cannot upgrade the connection;
//! - `smtp://host:25`: plain SMTP, for a relay next to the service (production refuses it
//!   for a host other than loopback, see [`crate::config::Config::production_problems`]).
//!
//! Recipients are validated addresses and subjects are fixed, so no header injection.

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::db::Db;

/// How long one message may take, connection included.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// Where mail goes.
#[derive(Clone)]
pub(crate) enum Mailer {
    /// Dev only: the outbox table.
    Outbox(Db),
    /// Outside dev without `SMTP_URL`: nothing is sent or stored.
    Unsent,
    // Boxed: the transport is large and the outbox variant is one pointer.
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    },
}

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MailError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("smtp: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("building the message: {0}")]
    Message(#[from] lettre::error::Error),
    #[error("invalid recipient address")]
    Recipient(#[from] lettre::address::AddressError),
    #[error("smtp timed out")]
    Timeout,
}

impl Mailer {
    /// Builds the mailer from `SMTP_URL` (see the module docs) and `SMTP_FROM`; without
    /// `SMTP_URL`, the outbox in dev and no mail elsewhere.
    pub(crate) fn new(db: Db, smtp_url: Option<&str>, from: &str, dev: bool) -> Result<Mailer, String> {
        let Some(url) = smtp_url else { return Ok(if dev { Mailer::Outbox(db) } else { Mailer::Unsent }) };
        // lettre's own errors may quote the URL, credentials included: keep them out.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| "SMTP_URL must be smtp://[user:pass@]host[:port][?tls=required] or smtps://...")?
            .timeout(Some(SEND_TIMEOUT))
            .build();
        let transport = Box::new(transport);
        let from = from.parse::<Mailbox>().map_err(|e| format!("SMTP_FROM: {e}"))?;
        Ok(Mailer::Smtp { transport, from })
    }

    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Mailer::Outbox(_) => "outbox table",
            Mailer::Unsent => "none (SMTP_URL is not set)",
            Mailer::Smtp { .. } => "smtp",
        }
    }

    pub(crate) async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        match self {
            Mailer::Outbox(db) => Ok(db.insert_outbox(to, subject, body, crate::now()).await?),
            Mailer::Unsent => {
                tracing::warn!(subject, "mail not sent: SMTP_URL is not set");
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                let message = Message::builder()
                    .from(from.clone())
                    .to(to.parse::<Mailbox>()?)
                    .subject(subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(body.to_owned())?;
                tokio::time::timeout(SEND_TIMEOUT, transport.send(message))
                    .await
                    .map_err(|_| MailError::Timeout)??;
                Ok(())
            }
        }
    }
}
