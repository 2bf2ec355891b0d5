//! `Outbox`: send mail in the background so a request never waits on SMTP.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::message::{Mailer, Message};

/// Messages that can wait in the queue before [`Outbox::enqueue`] reports [`Full`].
pub const DEFAULT_CAPACITY: usize = 1024;
/// How many recent failures [`Outbox::failures`] keeps.
pub const FAILURES_KEPT: usize = 100;

/// A message the outbox could not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// When the attempt failed.
    pub at: jiff::Timestamp,
    /// The recipients' addresses, comma-separated.
    pub recipients: String,
    /// The error text (`MailError`'s display: never credentials or message bodies).
    pub error: String,
}

/// [`Outbox::enqueue`] could not take the message: the queue is full (or the worker is
/// gone because the runtime is shutting down). The message is handed back.
#[derive(Debug, thiserror::Error)]
#[error("the mail outbox is full")]
pub struct Full(pub Box<Message>);

impl Full {
    /// The message that was not queued.
    pub fn into_message(self) -> Message {
        *self.0
    }
}

/// A bounded queue drained by one background task that sends each message with the
/// current mailer.
///
/// * [`enqueue`](Self::enqueue) never waits: it returns `Err(Full)` when the queue is full.
/// * Messages are sent one at a time, in order. A failure (or a panic in the mailer) is
///   logged with `tracing::error!` (recipients and error only) and kept in
///   [`failures`](Self::failures); the worker carries on with the next message.
/// * [`replace_mailer`](Self::replace_mailer) swaps the mailer atomically (after a
///   settings change); messages already queued go out through the new one.
/// * Dropping the outbox lets the worker finish the queued messages and stop;
///   [`close`](Self::close) does the same and waits for it.
pub struct Outbox {
    tx: mpsc::Sender<Message>,
    shared: Arc<Shared>,
    worker: JoinHandle<()>,
}

struct Shared {
    mailer: ArcSwap<Arc<dyn Mailer>>,
    failures: Mutex<VecDeque<Failure>>,
    sent: AtomicU64,
    failed: AtomicU64,
    /// Enqueued and not yet finished (sent or failed).
    pending: AtomicUsize,
    idle: Notify,
}

impl Shared {
    fn failures(&self) -> MutexGuard<'_, VecDeque<Failure>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Outbox {
    /// An outbox with [`DEFAULT_CAPACITY`].
    ///
    /// # Panics
    /// Outside a tokio runtime (it spawns its worker task).
    pub fn new(mailer: Arc<dyn Mailer>) -> Self {
        Self::with_capacity(mailer, DEFAULT_CAPACITY)
    }

    /// An outbox whose queue holds `capacity` messages (at least 1).
    ///
    /// # Panics
    /// Outside a tokio runtime (it spawns its worker task).
    pub fn with_capacity(mailer: Arc<dyn Mailer>, capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let shared = Arc::new(Shared {
            mailer: ArcSwap::from_pointee(mailer),
            failures: Mutex::new(VecDeque::new()),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
            idle: Notify::new(),
        });
        let worker = tokio::spawn(run(rx, Arc::clone(&shared)));
        Self { tx, shared, worker }
    }

    /// Queues a message without waiting.
    pub fn enqueue(&self, message: Message) -> Result<(), Full> {
        self.shared.pending.fetch_add(1, Ordering::SeqCst);
        match self.tx.try_send(message) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(message)) => {
                self.finished_one();
                tracing::warn!(
                    recipients = %message.recipients(),
                    "mail outbox is full; message not queued"
                );
                Err(Full(Box::new(message)))
            }
            Err(mpsc::error::TrySendError::Closed(message)) => {
                self.finished_one();
                tracing::error!(
                    recipients = %message.recipients(),
                    "mail outbox worker has stopped; message not queued"
                );
                Err(Full(Box::new(message)))
            }
        }
    }

    fn finished_one(&self) {
        if self.shared.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.idle.notify_waiters();
        }
    }

    /// Swaps the mailer used for every message sent from now on.
    pub fn replace_mailer(&self, mailer: Arc<dyn Mailer>) {
        self.shared.mailer.store(Arc::new(mailer));
    }

    /// The current mailer.
    pub fn mailer(&self) -> Arc<dyn Mailer> {
        Arc::clone(&self.shared.mailer.load())
    }

    /// The most recent failures (at most [`FAILURES_KEPT`]), oldest first.
    pub fn failures(&self) -> Vec<Failure> {
        self.shared.failures().iter().cloned().collect()
    }

    /// How many messages failed since the outbox started.
    pub fn failed_count(&self) -> u64 {
        self.shared.failed.load(Ordering::SeqCst)
    }

    /// How many messages were sent since the outbox started.
    pub fn sent_count(&self) -> u64 {
        self.shared.sent.load(Ordering::SeqCst)
    }

    /// Messages queued or being sent.
    pub fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::SeqCst)
    }

    /// Waits until every message enqueued so far has been sent or has failed.
    pub async fn flush(&self) {
        loop {
            let idle = self.shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.pending() == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Stops accepting messages, lets the worker send what is queued, and waits for it.
    /// Wrap in `tokio::time::timeout` to bound a shutdown.
    pub async fn close(self) {
        let Self { tx, worker, .. } = self;
        drop(tx);
        if let Err(e) = worker.await {
            tracing::error!(error = %e, "mail outbox worker ended abnormally");
        }
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("pending", &self.pending())
            .field("sent", &self.sent_count())
            .field("failed", &self.failed_count())
            .finish()
    }
}

async fn run(mut rx: mpsc::Receiver<Message>, shared: Arc<Shared>) {
    while let Some(message) = rx.recv().await {
        let mailer = shared.mailer.load_full();
        let recipients = message.recipients();
        // Each send runs in its own task so that a panicking mailer is reported as a
        // failure instead of ending the worker.
        let outcome = tokio::spawn(async move { mailer.send(message).await }).await;
        let error = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) if e.is_panic() => Some("the mailer panicked".to_owned()),
            Err(_) => Some("the send was cancelled".to_owned()),
        };
        match error {
            None => {
                shared.sent.fetch_add(1, Ordering::SeqCst);
                tracing::debug!(recipients = %recipients, "mail sent");
            }
            Some(error) => {
                tracing::error!(recipients = %recipients, error = %error, "sending mail failed");
                shared.failed.fetch_add(1, Ordering::SeqCst);
                let mut failures = shared.failures();
                if failures.len() == FAILURES_KEPT {
                    failures.pop_front();
                }
                failures.push_back(Failure {
                    at: jiff::Timestamp::now(),
                    recipients,
                    error,
                });
            }
        }
        if shared.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            shared.idle.notify_waiters();
        }
    }
}
