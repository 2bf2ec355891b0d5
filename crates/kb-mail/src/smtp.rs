//! `SmtpMailer`: delivery through an SMTP server with lettre.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::message::{Address, BoxFuture, MailError, Mailer, Message};

/// The default bound on establishing the TCP connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default bound on one whole delivery (connect, TLS, auth, transaction).
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// PocketBase's `smtp.authMethod`: `""` and `"PLAIN"` mean PLAIN, `"LOGIN"` means LOGIN.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SmtpAuthMethod {
    #[default]
    Plain,
    Login,
}

impl SmtpAuthMethod {
    /// The name PocketBase stores (`"PLAIN"` / `"LOGIN"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Login => "LOGIN",
        }
    }
}

impl FromStr for SmtpAuthMethod {
    type Err = MailError;

    /// Accepts `""`, `"PLAIN"` and `"LOGIN"` (ASCII case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.eq_ignore_ascii_case("PLAIN") {
            Ok(Self::Plain)
        } else if s.eq_ignore_ascii_case("LOGIN") {
            Ok(Self::Login)
        } else {
            Err(MailError::Config(format!(
                "unknown SMTP auth method {s:?} (expected PLAIN or LOGIN)"
            )))
        }
    }
}

/// SMTP settings, mirroring PocketBase's `smtp` settings plus the sender from `meta`.
///
/// `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// Authentication is used when `username` or `password` is non-empty.
    pub username: String,
    pub password: String,
    pub auth_method: SmtpAuthMethod,
    /// Implicit TLS from the first byte (SMTPS, usually port 465). When `false`,
    /// STARTTLS is used if the server offers it; see [`SmtpMailer::new`].
    pub tls: bool,
    /// The name sent with EHLO; `"localhost"` when empty (as PocketBase does).
    pub local_name: String,
    /// The `From` display name (PocketBase `meta.senderName`).
    pub sender_name: String,
    /// The `From` address (PocketBase `meta.senderAddress`).
    pub sender_address: String,
    /// Bound on establishing the TCP connection.
    pub connect_timeout: Duration,
    /// Bound on one whole delivery.
    pub send_timeout: Duration,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            username: String::new(),
            password: String::new(),
            auth_method: SmtpAuthMethod::Plain,
            tls: false,
            local_name: String::new(),
            sender_name: String::new(),
            sender_address: String::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
        }
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field(
                "password",
                &if self.password.is_empty() { "" } else { "***" },
            )
            .field("auth_method", &self.auth_method)
            .field("tls", &self.tls)
            .field("local_name", &self.local_name)
            .field("sender_name", &self.sender_name)
            .field("sender_address", &self.sender_address)
            .field("connect_timeout", &self.connect_timeout)
            .field("send_timeout", &self.send_timeout)
            .finish()
    }
}

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Sends messages through an SMTP server (lettre's pooled async transport on tokio).
///
/// Must be created, used and dropped where a tokio runtime is available: the connection
/// pool runs a small background task. (Dropping it elsewhere is handled: the drop enters
/// the runtime it was created on.)
pub struct SmtpMailer {
    builder: AsyncSmtpTransportBuilder,
    transport: Mutex<Option<Arc<Transport>>>,
    runtime: tokio::runtime::Handle,
    sender: Mailbox,
    message_id_domain: String,
    send_timeout: Duration,
    summary: String,
}

impl SmtpMailer {
    /// Validates the settings and prepares the transport (no connection is made yet).
    ///
    /// TLS: `tls = true` wraps the connection in TLS from the start. Otherwise STARTTLS is
    /// used when the server offers it (lettre's `Tls::Opportunistic`), except that with
    /// credentials and a host that is not loopback STARTTLS is *required*, so a password
    /// never crosses the network in clear text (Go's `net/smtp`, which PocketBase uses,
    /// refuses the same). Certificates are checked against the Mozilla roots
    /// (`webpki-roots`); rustls runs on aws-lc-rs, which lettre selects itself when no
    /// process-wide provider is installed, so nothing global is installed here.
    ///
    /// Errors: `MailError::Config` for an empty host, port 0, an invalid sender address,
    /// or when called outside a tokio runtime.
    pub fn new(config: SmtpConfig) -> Result<Self, MailError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| MailError::Config("SmtpMailer needs a tokio runtime".into()))?;
        let host = config.host.trim().to_owned();
        if host.is_empty() {
            return Err(MailError::Config("the SMTP host is empty".into()));
        }
        if config.port == 0 {
            return Err(MailError::Config("the SMTP port is 0".into()));
        }
        let sender = mailbox(&Address::new(
            config.sender_name.clone(),
            config.sender_address.clone(),
        ))
        .map_err(|e| MailError::Config(format!("sender: {e}")))?;
        let message_id_domain = sender.email.domain().to_owned();

        let with_credentials = !config.username.is_empty() || !config.password.is_empty();
        let tls_parameters =
            TlsParameters::new(host.clone()).map_err(|e| MailError::Config(format!("TLS: {e}")))?;
        let (tls, tls_mode) = if config.tls {
            (Tls::Wrapper(tls_parameters), "implicit TLS")
        } else if with_credentials && !is_loopback(&host) {
            (Tls::Required(tls_parameters), "STARTTLS required")
        } else {
            (Tls::Opportunistic(tls_parameters), "STARTTLS if offered")
        };
        let local_name = config.local_name.trim();
        let hello = ClientId::Domain(if local_name.is_empty() {
            "localhost".to_owned()
        } else {
            local_name.to_owned()
        });

        let mut builder = Transport::builder_dangerous(host.clone())
            .port(config.port)
            .tls(tls)
            .hello_name(hello)
            .timeout(Some(config.connect_timeout))
            .pool_config(
                PoolConfig::new()
                    .max_size(4)
                    .idle_timeout(Duration::from_secs(30)),
            );
        if with_credentials {
            let mechanism = match config.auth_method {
                SmtpAuthMethod::Plain => Mechanism::Plain,
                SmtpAuthMethod::Login => Mechanism::Login,
            };
            builder = builder
                .credentials(Credentials::new(config.username.clone(), config.password))
                .authentication(vec![mechanism]);
        }
        let summary = format!(
            "{host}:{} ({tls_mode}, {})",
            config.port,
            if with_credentials {
                config.auth_method.as_str()
            } else {
                "no auth"
            }
        );
        let transport = {
            let _entered = runtime.enter();
            Arc::new(builder.clone().build())
        };
        Ok(Self {
            builder,
            transport: Mutex::new(Some(transport)),
            runtime,
            sender,
            message_id_domain,
            send_timeout: config.send_timeout,
            summary,
        })
    }

    /// The configured sender.
    pub fn sender(&self) -> Address {
        Address::new(
            self.sender.name.clone().unwrap_or_default(),
            self.sender.email.to_string(),
        )
    }

    fn transport(&self) -> Result<Arc<Transport>, MailError> {
        self.transport
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| MailError::Other("the SMTP mailer was shut down".into()))
    }

    /// Replaces a transport whose connection may be stuck mid-command (after a timeout),
    /// so the pool never hands out a connection in an unknown state.
    fn reset_transport(&self, stale: &Arc<Transport>) {
        let mut slot = self.transport.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|t| Arc::ptr_eq(t, stale)) {
            let _entered = self.runtime.enter();
            *slot = Some(Arc::new(self.builder.clone().build()));
        }
    }

    /// Builds the RFC 5322 message lettre sends.
    fn build(&self, message: &Message) -> Result<lettre::Message, MailError> {
        if message.to.is_empty() {
            return Err(MailError::NoRecipients);
        }
        let from = match &message.from {
            Some(from) => mailbox(from)?,
            None => self.sender.clone(),
        };
        let mut builder = lettre::Message::builder()
            .from(from)
            .subject(one_line(&message.subject));
        for to in &message.to {
            builder = builder.to(mailbox(to)?);
        }
        let mut has_message_id = false;
        for (name, value) in &message.headers {
            check_header(name, value)?;
            has_message_id |= name.eq_ignore_ascii_case("Message-ID");
            let header_name =
                HeaderName::new_from_ascii(name.clone()).map_err(|_| MailError::InvalidHeader {
                    name: name.clone(),
                    reason: "not a valid header name".into(),
                })?;
            builder = builder.raw_header(HeaderValue::new(header_name, value.clone()));
        }
        if !has_message_id {
            builder = builder.message_id(Some(format!(
                "<{}@{}>",
                random_id(),
                self.message_id_domain
            )));
        }
        let text = message.plain_text().into_owned();
        let built = if message.html.is_empty() {
            builder.singlepart(SinglePart::plain(text))
        } else {
            builder.multipart(MultiPart::alternative_plain_html(
                text,
                message.html.clone(),
            ))
        };
        built.map_err(|e| MailError::Build(e.to_string()))
    }

    async fn deliver(&self, message: Message) -> Result<(), MailError> {
        let email = self.build(&message)?;
        let transport = self.transport()?;
        match tokio::time::timeout(self.send_timeout, transport.send(email)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(MailError::Smtp {
                message: e.to_string(),
                permanent: e.is_permanent(),
            }),
            Err(_elapsed) => {
                self.reset_transport(&transport);
                Err(MailError::Timeout(self.send_timeout))
            }
        }
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, message: Message) -> BoxFuture<'_, Result<(), MailError>> {
        Box::pin(self.deliver(message))
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.summary)
            .field("sender", &self.sender.to_string())
            .finish()
    }
}

impl Drop for SmtpMailer {
    fn drop(&mut self) {
        // lettre's pool spawns a cleanup task when dropped; give it a runtime.
        let transport = self.transport.get_mut().ok().and_then(Option::take);
        let _entered = self.runtime.enter();
        drop(transport);
    }
}

/// Converts an [`Address`] to lettre's mailbox, validating the email.
fn mailbox(address: &Address) -> Result<Mailbox, MailError> {
    let email = address.email.trim();
    let parsed = email
        .parse::<lettre::Address>()
        .map_err(|e| MailError::InvalidAddress {
            address: email.to_owned(),
            reason: e.to_string(),
        })?;
    let name = one_line(&address.name);
    let name = name.trim();
    Ok(Mailbox::new(
        (!name.is_empty()).then(|| name.to_owned()),
        parsed,
    ))
}

/// Headers that define structure or recipients; the mailer owns them.
const RESERVED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "sender",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
];

fn check_header(name: &str, value: &str) -> Result<(), MailError> {
    let invalid = |reason: &str| MailError::InvalidHeader {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(invalid("not a valid header name"));
    }
    if RESERVED_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
    {
        return Err(invalid("set by the mailer"));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err(invalid("the value contains a line break"));
    }
    Ok(())
}

fn one_line(s: &str) -> String {
    if s.contains(['\r', '\n']) {
        s.split(['\r', '\n'])
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        s.to_owned()
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// 32 hex digits, unique enough for a Message-ID (not a secret).
fn random_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = std::collections::hash_map::RandomState::new();
    let mut out = String::with_capacity(32);
    for round in 0..2u64 {
        let mut hasher = state.build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u64(round);
        if let Ok(elapsed) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            hasher.write_u128(elapsed.as_nanos());
        }
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: 2525,
            sender_name: "Acme".into(),
            sender_address: "noreply@acme.test".into(),
            ..SmtpConfig::default()
        }
    }

    #[test]
    fn auth_method_parses_pocketbase_values() {
        assert_eq!("".parse::<SmtpAuthMethod>().unwrap(), SmtpAuthMethod::Plain);
        assert_eq!(
            "PLAIN".parse::<SmtpAuthMethod>().unwrap(),
            SmtpAuthMethod::Plain
        );
        assert_eq!(
            "login".parse::<SmtpAuthMethod>().unwrap(),
            SmtpAuthMethod::Login
        );
        assert!("CRAM-MD5".parse::<SmtpAuthMethod>().is_err());
    }

    #[test]
    fn debug_hides_the_password() {
        let config = SmtpConfig {
            password: "hunter2".into(),
            ..config()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn new_needs_a_runtime() {
        assert!(matches!(
            SmtpMailer::new(config()),
            Err(MailError::Config(_))
        ));
    }

    #[tokio::test]
    async fn rejects_bad_settings() {
        for bad in [
            SmtpConfig {
                host: " ".into(),
                ..config()
            },
            SmtpConfig {
                port: 0,
                ..config()
            },
            SmtpConfig {
                sender_address: "not an address".into(),
                ..config()
            },
        ] {
            assert!(matches!(SmtpMailer::new(bad), Err(MailError::Config(_))));
        }
    }

    #[tokio::test]
    async fn builds_messages_and_rejects_bad_input() {
        let mailer = SmtpMailer::new(config()).unwrap();
        assert_eq!(mailer.sender(), Address::new("Acme", "noreply@acme.test"));
        let message = Message::new(
            Address::new("Bob", "bob@x.test"),
            "Hi\r\nBcc: x@y",
            "<p>x</p>",
        )
        .with_header("Reply-To", "help@acme.test")
        .with_header("X-Tag", "welcome");
        let built = String::from_utf8(mailer.build(&message).unwrap().formatted()).unwrap();
        assert!(built.contains("Subject: Hi Bcc: x@y\r\n"), "{built}");
        assert!(built.contains("Reply-To: help@acme.test\r\n"), "{built}");
        assert!(built.contains("Message-ID: <"), "{built}");
        assert!(built.contains("@acme.test>\r\n"), "{built}");
        assert!(!built.contains("\nBcc:"), "{built}");

        let with_id = message.clone().with_header("Message-ID", "<own@id>");
        let built = String::from_utf8(mailer.build(&with_id).unwrap().formatted()).unwrap();
        assert_eq!(built.matches("Message-ID:").count(), 1, "{built}");
        assert!(built.contains("Message-ID: <own@id>"), "{built}");

        for (name, value) in [
            ("Bcc", "x@y"),
            ("X-A", "a\r\nb"),
            ("Bad Name", "v"),
            ("", "v"),
        ] {
            let m = message.clone().with_header(name, value);
            assert!(
                matches!(mailer.build(&m), Err(MailError::InvalidHeader { .. })),
                "{name}"
            );
        }
        let m = Message::new(Address::email("nope"), "s", "h");
        assert!(matches!(
            mailer.build(&m),
            Err(MailError::InvalidAddress { .. })
        ));
        assert!(matches!(
            mailer.build(&Message::default()),
            Err(MailError::NoRecipients)
        ));
    }

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "127.0.0.1", "::1", "[::1]", "127.1.2.3"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["smtp.example.com", "10.0.0.1", "localhost.evil.test"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(random_id(), random_id());
        assert_eq!(random_id().len(), 32);
    }
}
