//! kb-mail against the real SMTP path: `SmtpMailer` → `testing::SmtpSink`, and the
//! `Outbox` around it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kb_mail::testing::{SinkAuth, SmtpSink};
use kb_mail::{
    Address, BoxFuture, MailError, Mailer, MemoryMailer, Message, Outbox, SmtpAuthMethod,
    SmtpConfig, SmtpMailer, html_to_text, render_plain, render_template,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Notify;

const WAIT: Duration = Duration::from_secs(10);

async fn send(config: SmtpConfig, message: Message) -> Result<(), MailError> {
    SmtpMailer::new(config).unwrap().send(message).await
}

#[tokio::test]
async fn html_message_round_trip() {
    let sink = SmtpSink::start().await;
    let long_line = "lorem ipsum dolor sit amet ".repeat(80); // ~2 KB, no line break
    let html = format!(
        "<h1>Grüße, Jörg ✓</h1>\n<p>Ünïcödé body — 日本語</p>\n<p>{long_line}</p>\n\
         .starts with a dot\n.\n..two dots\n<a href=\"https://acme.test/verify?t=1&amp;u=2\">Verify</a>"
    );
    let subject = "Bestätige deine E-Mail-Adresse für Keelbase — ✓ ".repeat(3);
    let subject = subject.trim_end().to_owned();
    let message = Message {
        to: vec![
            Address::new("Jörg Müller", "joerg@example.com"),
            Address::email("second@example.com"),
        ],
        subject: subject.clone(),
        html: html.clone(),
        ..Message::default()
    };
    send(sink.smtp_config(), message).await.unwrap();

    let mail = sink
        .next_message(WAIT)
        .await
        .expect("the sink got the message");
    assert_eq!(mail.subject, subject);
    assert_eq!(mail.html.as_deref(), Some(html.as_str()));
    assert_eq!(mail.text.as_deref(), Some(html_to_text(&html).as_str()));
    assert!(
        mail.text
            .as_deref()
            .unwrap()
            .contains("[Verify](https://acme.test/verify?t=1&u=2)")
    );
    assert_eq!(
        mail.to,
        vec![
            Address::new("Jörg Müller", "joerg@example.com"),
            Address::email("second@example.com"),
        ]
    );
    assert_eq!(
        mail.from,
        Some(Address::new("Keelbase", "noreply@example.com"))
    );
    assert_eq!(mail.mail_from, "noreply@example.com");
    assert_eq!(mail.rcpt_to, ["joerg@example.com", "second@example.com"]);
    assert_eq!(mail.auth, None);
    let message_id = mail.header("Message-ID").expect("a Message-ID");
    assert!(message_id.ends_with("@example.com>"), "{message_id}");
    assert!(mail.header("Date").is_some());
    assert!(mail.raw.is_ascii(), "lettre encodes everything as 7-bit");
    assert!(
        mail.raw.lines().all(|l| l.len() <= 998),
        "no line over the SMTP limit"
    );
    assert!(sink.next_message(Duration::from_millis(50)).await.is_none());
}

#[tokio::test]
async fn dot_stuffing_round_trip() {
    let sink = SmtpSink::start().await;
    let text = ".hidden\n.\n..two\nend.\n";
    let message = Message::new(Address::email("a@example.com"), "dots", "").with_text(text);
    send(sink.smtp_config(), message).await.unwrap();
    let mail = sink.next_message(WAIT).await.unwrap();
    // A 7-bit body: the lines travel dot-stuffed and the sink unstuffs them.
    assert!(
        mail.raw.contains("\r\n.hidden\r\n.\r\n..two\r\nend.\r\n"),
        "{}",
        mail.raw
    );
    assert_eq!(mail.text.as_deref(), Some(text.trim_end()));
    assert_eq!(mail.html, None);
}

#[tokio::test]
async fn extra_headers_and_sender_override() {
    let sink = SmtpSink::start().await;
    let message = Message {
        from: Some(Address::new("Support", "support@acme.test")),
        ..Message::new(Address::email("a@example.com"), "s", "<p>x</p>")
            .with_header("Reply-To", "help@acme.test")
            .with_header("X-Keelbase-Kind", "verification")
    };
    send(sink.smtp_config(), message).await.unwrap();
    let mail = sink.next_message(WAIT).await.unwrap();
    assert_eq!(mail.header("reply-to"), Some("help@acme.test"));
    assert_eq!(mail.header("X-Keelbase-Kind"), Some("verification"));
    assert_eq!(mail.mail_from, "support@acme.test");
    assert_eq!(
        mail.from,
        Some(Address::new("Support", "support@acme.test"))
    );
}

#[tokio::test]
async fn auth_plain_and_login() {
    let sink = SmtpSink::start_with_auth("mailer", "s3cr=t pässword").await;
    for method in [SmtpAuthMethod::Plain, SmtpAuthMethod::Login] {
        let config = SmtpConfig {
            auth_method: method,
            ..sink.smtp_config()
        };
        let message = Message::new(Address::email("a@example.com"), method.as_str(), "<p>x</p>");
        send(config, message).await.unwrap();
        let mail = sink.next_message(WAIT).await.unwrap();
        assert_eq!(mail.subject, method.as_str());
        assert_eq!(
            mail.auth,
            Some(SinkAuth {
                mechanism: method.as_str().to_owned(),
                username: "mailer".to_owned(),
            })
        );
    }

    let wrong = SmtpConfig {
        password: "wrong".into(),
        ..sink.smtp_config()
    };
    let err = send(
        wrong,
        Message::new(Address::email("a@example.com"), "s", "x"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            MailError::Smtp {
                permanent: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("535"), "{err}");
    assert!(!err.to_string().contains("wrong"), "{err}");

    let anonymous = SmtpConfig {
        username: String::new(),
        password: String::new(),
        ..sink.smtp_config()
    };
    let err = send(
        anonymous,
        Message::new(Address::email("a@example.com"), "s", "x"),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("530"), "{err}");
    assert_eq!(sink.messages().len(), 2);
}

#[tokio::test]
async fn rejected_transaction_is_a_permanent_error() {
    let sink = SmtpSink::start().await;
    let mailer = SmtpMailer::new(sink.smtp_config()).unwrap();
    sink.fail_next(1);
    let err = mailer
        .send(Message::new(Address::email("a@example.com"), "one", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MailError::Smtp {
                permanent: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("554"), "{err}");
    assert_eq!(sink.rejected(), 1);
    // The same mailer (and its pool) still works.
    mailer
        .send(Message::new(Address::email("a@example.com"), "two", "x"))
        .await
        .unwrap();
    assert_eq!(sink.next_message(WAIT).await.unwrap().subject, "two");
}

#[tokio::test]
async fn implicit_tls_against_a_plain_server_fails_cleanly() {
    let sink = SmtpSink::start().await;
    let config = SmtpConfig {
        tls: true,
        ..sink.smtp_config()
    };
    let err = send(
        config,
        Message::new(Address::email("a@example.com"), "s", "x"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            MailError::Smtp {
                permanent: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn unreachable_and_silent_servers_fail_in_bounded_time() {
    // Nothing listens on a port we just released.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        sender_address: "noreply@example.com".into(),
        ..SmtpConfig::default()
    };
    let err = send(
        config.clone(),
        Message::new(Address::email("a@example.com"), "s", "x"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            MailError::Smtp {
                permanent: false,
                ..
            }
        ),
        "{err:?}"
    );

    // A server that accepts and never says anything.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let config = SmtpConfig {
        port: silent_port,
        send_timeout: Duration::from_millis(300),
        ..config
    };
    let mailer = SmtpMailer::new(config).unwrap();
    let started = Instant::now();
    for _ in 0..2 {
        let err = mailer
            .send(Message::new(Address::email("a@example.com"), "s", "x"))
            .await
            .unwrap_err();
        assert!(matches!(err, MailError::Timeout(_)), "{err:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    holder.abort();
}

/// A mailer that waits for a gate before "sending", or panics.
struct GateMailer {
    gate: Arc<Notify>,
    panic: bool,
}

impl Mailer for GateMailer {
    fn send(&self, message: Message) -> BoxFuture<'_, Result<(), MailError>> {
        Box::pin(async move {
            assert!(!self.panic, "mailer blew up on {}", message.subject);
            self.gate.notified().await;
            Ok(())
        })
    }
}

#[tokio::test]
async fn enqueue_never_waits_for_the_mailer() {
    let gate = Arc::new(Notify::new());
    let mailer = Arc::new(GateMailer {
        gate: Arc::clone(&gate),
        panic: false,
    });
    let outbox = Outbox::with_capacity(mailer, 3);
    let started = Instant::now();
    let mut accepted = 0;
    let mut full = None;
    for i in 0..10 {
        match outbox.enqueue(Message::new(
            Address::email("a@example.com"),
            format!("{i}"),
            "x",
        )) {
            Ok(()) => accepted += 1,
            Err(e) => {
                full = Some(e);
                break;
            }
        }
        tokio::task::yield_now().await;
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    let full = full.expect("the queue filled up");
    assert_eq!(full.to_string(), "the mail outbox is full");
    assert!(full.into_message().subject.parse::<u32>().is_ok());
    // The queue (3) plus, at most, the one message the worker holds.
    assert!((3..=4).contains(&accepted), "{accepted}");
    assert_eq!(outbox.pending(), accepted);

    // Open the gate for every message; the queue drains.
    let opener = tokio::spawn(async move {
        loop {
            gate.notify_waiters();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    tokio::time::timeout(WAIT, outbox.flush()).await.unwrap();
    opener.abort();
    assert_eq!(outbox.sent_count(), accepted as u64);
}

#[tokio::test]
async fn panicking_mailer_is_a_failure_and_the_mailer_can_be_replaced() {
    let outbox = Outbox::new(Arc::new(GateMailer {
        gate: Arc::new(Notify::new()),
        panic: true,
    }));
    outbox
        .enqueue(Message::new(Address::email("a@example.com"), "boom", "x"))
        .unwrap();
    tokio::time::timeout(WAIT, outbox.flush()).await.unwrap();
    assert_eq!(outbox.failures()[0].error, "the mailer panicked");

    let memory = MemoryMailer::new();
    outbox.replace_mailer(Arc::new(memory.clone()));
    outbox
        .enqueue(Message::new(Address::email("b@example.com"), "after", "x"))
        .unwrap();
    let got = memory.next_message(WAIT).await.unwrap();
    assert_eq!(got.subject, "after");
    assert_eq!(outbox.failed_count(), 1);

    let second = MemoryMailer::new();
    outbox.replace_mailer(Arc::new(second.clone()));
    outbox
        .enqueue(Message::new(Address::email("c@example.com"), "third", "x"))
        .unwrap();
    assert_eq!(second.next_message(WAIT).await.unwrap().subject, "third");
    assert_eq!(memory.len(), 1);
}

#[tokio::test]
async fn rendered_template_through_smtp() {
    // PocketBase's default verification template.
    let subject = "Verify your {APP_NAME} email";
    let body = "<p>Hello,</p>\n<p>Thank you for joining us at {APP_NAME}.</p>\n\
        <p>Click on the button below to verify your email address.</p>\n\
        <p>\n  <a class=\"btn\" href=\"{APP_URL}/_/#/auth/confirm-verification/{TOKEN}\" target=\"_blank\" rel=\"noopener\">Verify</a>\n</p>\n\
        <p>\n  Thanks,<br/>\n  {APP_NAME} team\n</p>\n<p>Your name: {RECORD:name}</p>";
    let vars = [
        ("APP_NAME", "Acme <Labs>"),
        ("APP_URL", "https://acme.test"),
        ("TOKEN", "eyJ.abc.def"),
        ("RECORD:name", "<img src=x onerror=alert(1)>"),
    ];
    let sink = SmtpSink::start().await;
    let message = Message::new(
        Address::email("new@example.com"),
        render_plain(subject, &vars),
        render_template(body, &vars),
    );
    send(sink.smtp_config(), message).await.unwrap();
    let mail = sink.next_message(WAIT).await.unwrap();
    assert_eq!(mail.subject, "Verify your Acme <Labs> email");
    let html = mail.html.unwrap();
    assert!(html.contains("Acme &lt;Labs&gt;"), "{html}");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    assert!(!html.contains("<img"), "{html}");
    assert!(
        html.contains("href=\"https://acme.test/_/#/auth/confirm-verification/eyJ.abc.def\""),
        "{html}"
    );
    assert_eq!(
        mail.text.unwrap(),
        "Hello,\nThank you for joining us at Acme <Labs>.\n\
         Click on the button below to verify your email address.\n\
         [Verify](https://acme.test/_/#/auth/confirm-verification/eyJ.abc.def)\n\
         Thanks,\nAcme <Labs> team\nYour name: <img src=x onerror=alert(1)>"
    );
}

/// Talks to the sink directly, byte by byte.
#[tokio::test]
async fn sink_speaks_smtp() {
    let sink = SmtpSink::start().await;
    let stream = tokio::net::TcpStream::connect(sink.addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut next = async || lines.next_line().await.unwrap().unwrap();
    assert!(next().await.starts_with("220 "));

    let mut exchange = async |command: &str| -> Vec<String> {
        write
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .unwrap();
        let mut reply = vec![];
        loop {
            let line = next().await;
            let last = line.as_bytes().get(3) == Some(&b' ') || line.len() == 3;
            reply.push(line);
            if last {
                return reply;
            }
        }
    };
    let ehlo = exchange("EHLO client.test").await;
    assert!(
        ehlo.iter().any(|l| l.contains("AUTH PLAIN LOGIN")),
        "{ehlo:?}"
    );
    assert!(ehlo.iter().all(|l| !l.contains("STARTTLS")), "{ehlo:?}");
    assert!(exchange("DATA").await[0].starts_with("503"));
    assert!(exchange("RCPT TO:<a@b.c>").await[0].starts_with("503"));
    assert!(exchange("NOOP").await[0].starts_with("250"));
    assert!(exchange("FOO").await[0].starts_with("500"));
    assert!(exchange("STARTTLS").await[0].starts_with("502"));
    assert!(exchange("MAIL FROM:<x@y.z>").await[0].starts_with("250"));
    assert!(exchange("RSET").await[0].starts_with("250"));
    assert!(exchange("HELO client.test").await[0].starts_with("250"));
    assert!(exchange("mail from:<>").await[0].starts_with("250"));
    assert!(exchange("RCPT TO:<one@b.c>").await[0].starts_with("250"));
    assert!(exchange("RCPT TO:two@b.c").await[0].starts_with("250"));
    assert!(exchange("DATA").await[0].starts_with("354"));
    let data = "Subject: raw\r\n\r\n..dot\r\nplain\r\n.";
    let reply = exchange(data).await;
    assert!(reply[0].starts_with("250"), "{reply:?}");
    assert!(exchange("QUIT").await[0].starts_with("221"));

    let mail = sink.next_message(WAIT).await.unwrap();
    assert_eq!(mail.mail_from, "");
    assert_eq!(mail.rcpt_to, ["one@b.c", "two@b.c"]);
    assert_eq!(mail.raw, "Subject: raw\r\n\r\n.dot\r\nplain\r\n");
    assert_eq!(mail.subject, "raw");
    assert_eq!(mail.text.as_deref(), Some(".dot\nplain"));
}
