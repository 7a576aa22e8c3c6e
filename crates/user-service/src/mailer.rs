//! Outgoing mail: SMTP when `SMTP_URL` is set, otherwise the development outbox table
//! (`GET /v1/dev/outbox` in dev).
//!
//! The SMTP client is deliberately small: plain SMTP (no STARTTLS or AUTH) to a relay the
//! operator runs next to the service, such as a local Postfix or a mail-catcher in dev.
//! Recipients are validated addresses and subjects are fixed, so no header injection.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::db::Db;

/// Where mail goes.
#[derive(Clone)]
pub(crate) enum Mailer {
    Outbox(Db),
    Smtp { host: String, port: u16, from: String },
}

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MailError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("smtp io: {0}")]
    Io(#[from] std::io::Error),
    #[error("smtp server answered {0:?}")]
    Rejected(String),
    #[error("smtp timed out")]
    Timeout,
}

impl Mailer {
    /// Builds the mailer from `SMTP_URL` (`smtp://host[:port]`, default port 25).
    pub(crate) fn new(db: Db, smtp_url: Option<&str>, from: &str) -> Result<Mailer, String> {
        let Some(url) = smtp_url else { return Ok(Mailer::Outbox(db)) };
        let parsed = url::Url::parse(url).map_err(|e| format!("SMTP_URL: {e}"))?;
        if parsed.scheme() != "smtp" {
            return Err("SMTP_URL must be smtp://host[:port] (plain SMTP to a local relay)".into());
        }
        let host = parsed.host_str().ok_or("SMTP_URL has no host")?.to_owned();
        Ok(Mailer::Smtp { host, port: parsed.port().unwrap_or(25), from: from.to_owned() })
    }

    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Mailer::Outbox(_) => "outbox table",
            Mailer::Smtp { .. } => "smtp",
        }
    }

    pub(crate) async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        match self {
            Mailer::Outbox(db) => Ok(db.insert_outbox(to, subject, body, crate::now()).await?),
            Mailer::Smtp { host, port, from } => {
                tokio::time::timeout(Duration::from_secs(15), smtp_send(host, *port, from, to, subject, body))
                    .await
                    .map_err(|_| MailError::Timeout)?
            }
        }
    }
}

async fn smtp_send(
    host: &str,
    port: u16,
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<(), MailError> {
    let stream = TcpStream::connect((host, port)).await?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    expect(&mut read, "220").await?;
    command(&mut write, &mut read, "EHLO user-service", "250").await?;
    command(&mut write, &mut read, &format!("MAIL FROM:<{from}>"), "250").await?;
    command(&mut write, &mut read, &format!("RCPT TO:<{to}>"), "25").await?;
    command(&mut write, &mut read, "DATA", "354").await?;
    let mut message = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    );
    for line in body.lines() {
        // Dot-stuffing (RFC 5321 4.5.2).
        if line.starts_with('.') {
            message.push('.');
        }
        message.push_str(line);
        message.push_str("\r\n");
    }
    message.push_str(".\r\n");
    write.write_all(message.as_bytes()).await?;
    expect(&mut read, "250").await?;
    let _ = write.write_all(b"QUIT\r\n").await;
    Ok(())
}

async fn command<R: tokio::io::AsyncBufRead + Unpin>(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    read: &mut R,
    line: &str,
    want: &str,
) -> Result<(), MailError> {
    write.write_all(format!("{line}\r\n").as_bytes()).await?;
    expect(read, want).await
}

/// Reads one (possibly multi-line) reply and checks its code starts with `want`.
async fn expect<R: tokio::io::AsyncBufRead + Unpin>(read: &mut R, want: &str) -> Result<(), MailError> {
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await? == 0 {
            return Err(MailError::Rejected("connection closed".into()));
        }
        if !line.starts_with(want) {
            return Err(MailError::Rejected(line.trim_end().chars().take(200).collect()));
        }
        // "250-..." continues, "250 ..." ends the reply.
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}
