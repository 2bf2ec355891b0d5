//! Test helpers, behind the `testing` cargo feature.
//!
//! [`SmtpSink`] is a minimal SMTP server on `127.0.0.1:0`, written on tokio TCP, that
//! records what it receives, so tests can drive the real [`SmtpMailer`](crate::SmtpMailer)
//! (or a whole Keelbase server configured with the sink's host and port) and read back the
//! delivered messages, decoded.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use kb_mail::{Address, Mailer, Message, SmtpMailer, testing::SmtpSink};
//!
//! let sink = SmtpSink::start().await;
//! let mailer = SmtpMailer::new(sink.smtp_config()).unwrap();
//! mailer
//!     .send(Message::new(Address::email("bob@example.com"), "Hi", "<p>Hello</p>"))
//!     .await
//!     .unwrap();
//! let mail = sink.next_message(Duration::from_secs(5)).await.expect("a message");
//! assert_eq!(mail.subject, "Hi");
//! assert_eq!(mail.text.as_deref(), Some("Hello"));
//! # }
//! ```
//!
//! Protocol: EHLO/HELO (advertising `8BITMIME`, `SMTPUTF8`, `AUTH PLAIN LOGIN`, `SIZE`;
//! never `STARTTLS`), AUTH PLAIN and LOGIN (any credentials, or only the configured ones
//! with [`SmtpSink::start_with_auth`], which also makes AUTH mandatory), MAIL FROM, RCPT
//! TO, DATA (dot-unstuffed), RSET, NOOP, VRFY, QUIT.

mod mime;

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use crate::message::Address;
use crate::smtp::SmtpConfig;

/// The longest command line the sink accepts.
const MAX_COMMAND: u64 = 16 * 1024;
/// The longest DATA line the sink accepts (lettre wraps at 76; headers may be longer).
const MAX_DATA_LINE: u64 = 1024 * 1024;
/// The largest message the sink accepts.
const MAX_MESSAGE: usize = 32 * 1024 * 1024;

/// How a client authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkAuth {
    /// `"PLAIN"` or `"LOGIN"`.
    pub mechanism: String,
    pub username: String,
}

/// A message the sink accepted, with its envelope, raw data and decoded parts.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The `MAIL FROM` address.
    pub mail_from: String,
    /// The `RCPT TO` addresses.
    pub rcpt_to: Vec<String>,
    /// The message as received after dot-unstuffing (CRLF line ends).
    pub raw: String,
    /// The session's authentication, if any.
    pub auth: Option<SinkAuth>,
    /// All headers, unfolded, values decoded from RFC 2047.
    pub headers: Vec<(String, String)>,
    /// The decoded `Subject` (empty if absent).
    pub subject: String,
    /// The `From` mailbox.
    pub from: Option<Address>,
    /// The `To` mailboxes (names decoded).
    pub to: Vec<Address>,
    /// The first `text/plain` part, transfer-decoded, with `\n` line ends and no
    /// trailing line break.
    pub text: Option<String>,
    /// The first `text/html` part, transfer-decoded, with `\n` line ends and no
    /// trailing line break.
    pub html: Option<String>,
}

impl ReceivedMail {
    fn parse(
        mail_from: String,
        rcpt_to: Vec<String>,
        raw: Vec<u8>,
        auth: Option<SinkAuth>,
    ) -> Self {
        let parsed = mime::parse(&raw);
        let find = |name: &str| {
            parsed
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let subject = find("Subject").unwrap_or_default();
        Self {
            mail_from,
            rcpt_to,
            raw: String::from_utf8_lossy(&raw).into_owned(),
            auth,
            subject,
            from: parsed.from,
            to: parsed.to,
            text: parsed.text,
            html: parsed.html,
            headers: parsed.headers,
        }
    }

    /// The first header with this name (ASCII case-insensitive), decoded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct SinkState {
    all: Vec<ReceivedMail>,
    unread: VecDeque<ReceivedMail>,
    fail_next: usize,
    rejected: usize,
}

struct SinkShared {
    state: Mutex<SinkState>,
    arrived: Notify,
    credentials: Option<(String, String)>,
}

impl SinkShared {
    fn state(&self) -> MutexGuard<'_, SinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A minimal in-process SMTP server for tests. Stops when dropped.
pub struct SmtpSink {
    /// Where it listens (`127.0.0.1:<free port>`).
    pub addr: SocketAddr,
    shared: Arc<SinkShared>,
    accept: JoinHandle<()>,
}

impl SmtpSink {
    /// Starts a sink that accepts any (or no) authentication.
    ///
    /// # Panics
    /// If no port can be bound on 127.0.0.1, or outside a tokio runtime.
    pub async fn start() -> Self {
        Self::spawn(None).await
    }

    /// Starts a sink that requires AUTH (PLAIN or LOGIN) with exactly these credentials
    /// before `MAIL FROM`; wrong credentials get `535`.
    ///
    /// # Panics
    /// If no port can be bound on 127.0.0.1, or outside a tokio runtime.
    pub async fn start_with_auth(username: &str, password: &str) -> Self {
        Self::spawn(Some((username.to_owned(), password.to_owned()))).await
    }

    async fn spawn(credentials: Option<(String, String)>) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("SmtpSink: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("SmtpSink: local address");
        let shared = Arc::new(SinkShared {
            state: Mutex::new(SinkState::default()),
            arrived: Notify::new(),
            credentials,
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Self {
            addr,
            shared,
            accept,
        }
    }

    /// `"127.0.0.1"`.
    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Settings for an [`SmtpMailer`](crate::SmtpMailer) that delivers to this sink
    /// (plain TCP, the sink's credentials if it has some, sender
    /// `Keelbase <noreply@example.com>`, 5 s timeouts).
    pub fn smtp_config(&self) -> SmtpConfig {
        let (username, password) = self.shared.credentials.clone().unwrap_or_default();
        SmtpConfig {
            host: self.host(),
            port: self.port(),
            username,
            password,
            sender_name: "Keelbase".into(),
            sender_address: "noreply@example.com".into(),
            connect_timeout: Duration::from_secs(5),
            send_timeout: Duration::from_secs(5),
            ..SmtpConfig::default()
        }
    }

    /// The oldest message not yet returned by `next_message`, waiting up to `timeout`
    /// for one to arrive. `None` on timeout.
    pub async fn next_message(&self, timeout: Duration) -> Option<ReceivedMail> {
        let wait = async {
            loop {
                let arrived = self.shared.arrived.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                if let Some(mail) = self.shared.state().unread.pop_front() {
                    return mail;
                }
                arrived.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.state().all.clone()
    }

    /// Makes the next `n` transactions fail: the end of DATA is answered with
    /// `554 5.6.0 Transaction failed` and the message is not recorded.
    pub fn fail_next(&self, n: usize) {
        self.shared.state().fail_next += n;
    }

    /// How many transactions were rejected because of [`fail_next`](Self::fail_next).
    pub fn rejected(&self) -> usize {
        self.shared.state().rejected
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        // Dropping the accept task drops its JoinSet, which aborts every connection.
        self.accept.abort();
    }
}

impl std::fmt::Debug for SmtpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSink")
            .field("addr", &self.addr)
            .finish()
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<SinkShared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve(stream, Arc::clone(&shared)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

#[derive(Default)]
struct Session {
    auth: Option<SinkAuth>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

impl Session {
    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }
}

/// Reads one line (with its `\n`), at most `limit` bytes; `None` at end of stream.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    limit: u64,
) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = (&mut *reader)
        .take(limit)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if !line.ends_with(b"\n") && n as u64 >= limit {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
    }
    Ok(Some(line))
}

async fn reply<W: AsyncWrite + Unpin>(writer: &mut W, text: &str) -> io::Result<()> {
    // One write per reply: split writes meet Nagle + delayed ACK (40 ms stalls).
    writer.write_all(format!("{text}\r\n").as_bytes()).await?;
    writer.flush().await
}

fn trim_line(line: &[u8]) -> String {
    String::from_utf8_lossy(line)
        .trim_end_matches(['\r', '\n'])
        .to_owned()
}

fn b64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim().as_bytes())
        .ok()
}

/// `FROM:<a@b> SIZE=1` → `a@b` (the part after the `FROM:` / `TO:` prefix).
fn path_argument(arg: &str, prefix: &str) -> Option<String> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        Some(inner[..end].to_owned())
    } else {
        Some(rest.split_whitespace().next()?.to_owned())
    }
}

async fn serve(stream: TcpStream, shared: Arc<SinkShared>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut session = Session::default();
    reply(&mut writer, "220 kb-mail-sink ESMTP ready").await?;
    while let Some(line) = read_line(&mut reader, MAX_COMMAND).await? {
        let line = trim_line(&line);
        let (verb, arg) = match line.split_once(' ') {
            Some((verb, arg)) => (verb.to_ascii_uppercase(), arg.trim()),
            None => (line.to_ascii_uppercase(), ""),
        };
        let answer: String = match verb.as_str() {
            "EHLO" => {
                session.reset();
                format!(
                    "250-kb-mail-sink greets {arg}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n\
                     250-AUTH PLAIN LOGIN\r\n250 SIZE {MAX_MESSAGE}"
                )
            }
            "HELO" => {
                session.reset();
                "250 kb-mail-sink".into()
            }
            "AUTH" => auth(&mut reader, &mut writer, &shared, &mut session, arg).await?,
            "MAIL" => match path_argument(arg, "FROM:") {
                None => "501 5.5.4 Syntax: MAIL FROM:<address>".into(),
                Some(_) if session.mail_from.is_some() => "503 5.5.1 Nested MAIL command".into(),
                Some(_) if shared.credentials.is_some() && session.auth.is_none() => {
                    "530 5.7.0 Authentication required".into()
                }
                Some(from) => {
                    session.mail_from = Some(from);
                    "250 2.1.0 OK".into()
                }
            },
            "RCPT" => match path_argument(arg, "TO:") {
                None => "501 5.5.4 Syntax: RCPT TO:<address>".into(),
                Some(_) if session.mail_from.is_none() => "503 5.5.1 Need MAIL before RCPT".into(),
                Some(to) => {
                    session.rcpt_to.push(to);
                    "250 2.1.5 OK".into()
                }
            },
            "DATA" if session.rcpt_to.is_empty() => "503 5.5.1 Need RCPT before DATA".into(),
            "DATA" => {
                reply(&mut writer, "354 End data with <CR><LF>.<CR><LF>").await?;
                let Some(raw) = read_data(&mut reader).await? else {
                    reply(&mut writer, "552 5.3.4 Message too big").await?;
                    return Ok(());
                };
                let answer = accept_message(&shared, &mut session, raw);
                session.reset();
                answer
            }
            "RSET" => {
                session.reset();
                "250 2.0.0 OK".into()
            }
            "NOOP" => "250 2.0.0 OK".into(),
            "VRFY" => "252 2.1.5 Cannot VRFY user".into(),
            "STARTTLS" => "502 5.5.1 STARTTLS not supported".into(),
            "QUIT" => {
                reply(&mut writer, "221 2.0.0 Bye").await?;
                return Ok(());
            }
            _ => "500 5.5.2 Command not recognized".into(),
        };
        reply(&mut writer, &answer).await?;
    }
    Ok(())
}

/// Reads DATA up to the lone `.` line, undoing dot-stuffing. `None` if too big.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> io::Result<Option<Vec<u8>>> {
    let mut raw = Vec::new();
    let mut too_big = false;
    loop {
        let Some(line) = read_line(reader, MAX_DATA_LINE).await? else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed during DATA",
            ));
        };
        if line == b".\r\n" || line == b".\n" {
            break;
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        if raw.len() + line.len() > MAX_MESSAGE {
            too_big = true;
        } else {
            raw.extend_from_slice(line);
        }
    }
    Ok((!too_big).then_some(raw))
}

fn accept_message(shared: &SinkShared, session: &mut Session, raw: Vec<u8>) -> String {
    let mail = {
        let mut state = shared.state();
        if state.fail_next > 0 {
            state.fail_next -= 1;
            state.rejected += 1;
            return "554 5.6.0 Transaction failed (SmtpSink::fail_next)".into();
        }
        let mail = ReceivedMail::parse(
            session.mail_from.clone().unwrap_or_default(),
            session.rcpt_to.clone(),
            raw,
            session.auth.clone(),
        );
        state.all.push(mail.clone());
        state.unread.push_back(mail);
        state.all.len()
    };
    shared.arrived.notify_waiters();
    format!("250 2.0.0 OK: queued as {mail}")
}

async fn auth<R, W>(
    reader: &mut R,
    writer: &mut W,
    shared: &SinkShared,
    session: &mut Session,
    arg: &str,
) -> io::Result<String>
where
    R: tokio::io::AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if session.auth.is_some() {
        return Ok("503 5.5.1 Already authenticated".into());
    }
    let mut parts = arg.split_whitespace();
    let mechanism = parts.next().unwrap_or_default().to_ascii_uppercase();
    let initial = parts.next().map(str::to_owned);

    // Reads a client response to a `334` challenge; `None` if cancelled (`*`) or closed.
    async fn response<R, W>(
        reader: &mut R,
        writer: &mut W,
        challenge: &str,
    ) -> io::Result<Option<String>>
    where
        R: tokio::io::AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        reply(writer, challenge).await?;
        let line = read_line(reader, MAX_COMMAND).await?.map(|l| trim_line(&l));
        Ok(line.filter(|l| l != "*"))
    }

    let (username, password) = match mechanism.as_str() {
        "PLAIN" => {
            let encoded = match initial {
                Some(initial) => Some(initial),
                None => response(reader, writer, "334 ").await?,
            };
            let Some(encoded) = encoded else {
                return Ok("501 5.0.0 Authentication cancelled".into());
            };
            let Some(decoded) = b64(&encoded) else {
                return Ok("501 5.5.2 Cannot decode the response".into());
            };
            let fields: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
            let [_authzid, user, pass] = fields.as_slice() else {
                return Ok("501 5.5.2 Malformed PLAIN response".into());
            };
            (
                String::from_utf8_lossy(user).into_owned(),
                String::from_utf8_lossy(pass).into_owned(),
            )
        }
        "LOGIN" => {
            let user = match initial {
                Some(initial) => Some(initial),
                None => response(reader, writer, "334 VXNlcm5hbWU6").await?,
            };
            let Some(user) = user.and_then(|u| b64(&u)) else {
                return Ok("501 5.0.0 Authentication cancelled or undecodable".into());
            };
            let pass = response(reader, writer, "334 UGFzc3dvcmQ6").await?;
            let Some(pass) = pass.and_then(|p| b64(&p)) else {
                return Ok("501 5.0.0 Authentication cancelled or undecodable".into());
            };
            (
                String::from_utf8_lossy(&user).into_owned(),
                String::from_utf8_lossy(&pass).into_owned(),
            )
        }
        _ => return Ok("504 5.5.4 Unrecognized authentication type".into()),
    };
    if let Some((expected_user, expected_pass)) = &shared.credentials
        && (&username != expected_user || &password != expected_pass)
    {
        return Ok("535 5.7.8 Authentication credentials invalid".into());
    }
    session.auth = Some(SinkAuth {
        mechanism,
        username,
    });
    Ok("235 2.7.0 Authentication successful".into())
}
