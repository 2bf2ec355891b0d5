//! The outbox's failure logging, in its own test binary: it installs a process-wide
//! `tracing` subscriber, and `tracing`'s per-callsite interest cache makes a thread-local
//! subscriber unreliable while other tests run in parallel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kb_mail::testing::SmtpSink;
use kb_mail::{Address, Message, Outbox, SmtpMailer};

const WAIT: Duration = Duration::from_secs(10);

/// A `tracing` writer that keeps everything in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn outbox_logs_and_keeps_failures_and_keeps_going() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let sink = SmtpSink::start_with_auth("mailer", "TopSecretPassword").await;
    let outbox = Outbox::new(Arc::new(SmtpMailer::new(sink.smtp_config()).unwrap()));
    sink.fail_next(1);
    outbox
        .enqueue(Message::new(
            Address::email("first@example.com"),
            "one",
            "<p>1</p>",
        ))
        .unwrap();
    outbox
        .enqueue(Message::new(
            Address::email("second@example.com"),
            "two",
            "<p>2</p>",
        ))
        .unwrap();
    tokio::time::timeout(WAIT, outbox.flush()).await.unwrap();

    assert_eq!(outbox.failed_count(), 1);
    assert_eq!(outbox.sent_count(), 1);
    assert_eq!(outbox.pending(), 0);
    let failures = outbox.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].recipients, "first@example.com");
    assert!(failures[0].error.contains("554"), "{:?}", failures[0]);
    assert!(failures[0].at <= jiff::Timestamp::now());

    let delivered = sink.next_message(WAIT).await.unwrap();
    assert_eq!(delivered.subject, "two");

    let logs = logs.text();
    let line = logs
        .lines()
        .find(|l| l.contains("sending mail failed"))
        .unwrap_or_else(|| panic!("no failure logged:\n{logs}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("first@example.com"), "{line}");
    assert!(line.contains("554"), "{line}");
    assert!(!logs.contains("TopSecretPassword"), "{logs}");
    assert!(!logs.contains("<p>1</p>"), "{logs}");

    tokio::time::timeout(WAIT, outbox.close()).await.unwrap();
}
