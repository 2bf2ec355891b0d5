//! `MemoryMailer`: the in-memory test double.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::message::{BoxFuture, MailError, Mailer, Message};

/// A mailer that keeps every message in memory.
///
/// Cloning shares the mailbox, so a test keeps one clone and hands another (as
/// `Arc<dyn Mailer>`) to the code under test. [`next_message`](Self::next_message)
/// returns messages in the order they were sent, each once; [`messages`](Self::messages)
/// returns everything ever sent.
#[derive(Clone, Default)]
pub struct MemoryMailer {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    arrived: Notify,
}

#[derive(Default)]
struct State {
    all: Vec<Message>,
    unread: VecDeque<Message>,
    fail_next: VecDeque<String>,
}

impl MemoryMailer {
    /// An empty mailbox.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state inconsistent.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every message sent so far, oldest first.
    pub fn messages(&self) -> Vec<Message> {
        self.state().all.clone()
    }

    /// How many messages were sent.
    pub fn len(&self) -> usize {
        self.state().all.len()
    }

    /// Whether nothing was sent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every message (sent and unread).
    pub fn clear(&self) {
        let mut state = self.state();
        state.all.clear();
        state.unread.clear();
    }

    /// The oldest message not yet returned by `next_message`, waiting up to `timeout`
    /// for one to arrive. `None` on timeout.
    pub async fn next_message(&self, timeout: Duration) -> Option<Message> {
        let wait = async {
            loop {
                let arrived = self.inner.arrived.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                if let Some(message) = self.state().unread.pop_front() {
                    return message;
                }
                arrived.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }

    /// Makes the next `send` fail with `MailError::Other(error)` (queued: calling this
    /// twice fails the next two sends). The failed message is not recorded.
    pub fn fail_next(&self, error: impl Into<String>) {
        self.state().fail_next.push_back(error.into());
    }
}

impl Mailer for MemoryMailer {
    fn send(&self, message: Message) -> BoxFuture<'_, Result<(), MailError>> {
        Box::pin(async move {
            if message.to.is_empty() {
                return Err(MailError::NoRecipients);
            }
            {
                let mut state = self.state();
                if let Some(error) = state.fail_next.pop_front() {
                    return Err(MailError::Other(error));
                }
                state.all.push(message.clone());
                state.unread.push_back(message);
            }
            self.inner.arrived.notify_waiters();
            Ok(())
        })
    }
}

impl std::fmt::Debug for MemoryMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryMailer")
            .field("messages", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Address;

    #[tokio::test]
    async fn records_and_waits_for_messages() {
        let mailer = MemoryMailer::new();
        assert!(
            mailer
                .next_message(Duration::from_millis(10))
                .await
                .is_none()
        );

        let sender = mailer.clone();
        let task = tokio::spawn(async move {
            tokio::task::yield_now().await;
            sender
                .send(Message::new(Address::email("a@x.y"), "one", "<p>1</p>"))
                .await
                .unwrap();
        });
        let first = mailer.next_message(Duration::from_secs(5)).await.unwrap();
        assert_eq!(first.subject, "one");
        task.await.unwrap();

        mailer.fail_next("boom");
        let err = mailer
            .send(Message::new(Address::email("b@x.y"), "two", ""))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "boom");
        mailer
            .send(Message::new(Address::email("c@x.y"), "three", ""))
            .await
            .unwrap();
        assert_eq!(mailer.len(), 2);
        let next = mailer.next_message(Duration::from_secs(1)).await.unwrap();
        assert_eq!(next.subject, "three");
        assert!(matches!(
            mailer.send(Message::default()).await,
            Err(MailError::NoRecipients)
        ));
    }
}
