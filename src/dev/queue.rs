//! The processing queue on loopback, with SQS's semantics: a received message is invisible for
//! the visibility timeout, comes back if not deleted, and after `maxReceiveCount` receives goes
//! to the dead-letter queue instead.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use wh_runtime::backends::{BackendError, Queue};
use wh_runtime::model::QueueMessage;
use wh_runtime::processor::Message;

#[derive(Clone, Debug)]
struct Stored {
    id: String,
    body: String,
    receive_count: u32,
    visible_at: Duration,
}

/// Messages in arrival order (a redriven one arrives anew), found by id in O(log n) to delete.
/// (A deque scanned on every delete made each processed batch cost the whole queue's length,
/// so a queue that grew under load fell further behind.)
#[derive(Debug, Default)]
struct State {
    messages: BTreeMap<u64, Stored>,
    order: HashMap<String, u64>,
    dlq: Vec<Stored>,
    next_id: u64,
}

impl State {
    /// Puts `m` at the back of the queue.
    fn push(&mut self, m: Stored) {
        self.next_id += 1;
        self.order.insert(m.id.clone(), self.next_id);
        self.messages.insert(self.next_id, m);
    }

    /// Takes the message at arrival number `seq` out of the queue.
    fn take(&mut self, seq: u64) -> Option<Stored> {
        let m = self.messages.remove(&seq)?;
        self.order.remove(&m.id);
        Some(m)
    }
}

/// Depths, as `wh status` shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Depths {
    /// Messages waiting (visible or in flight).
    pub queued: usize,
    /// Messages received and not yet deleted or back.
    pub in_flight: usize,
    /// Messages in the dead-letter queue.
    pub dlq: usize,
}

/// An SQS-like queue with its DLQ. Time comes from `clock` (scaled in `wh dev`).
#[derive(Debug)]
pub struct DevQueue {
    state: Mutex<State>,
    visibility: Duration,
    max_receive_count: u32,
    clock: super::Clock,
    arrived: tokio::sync::Notify,
}

impl DevQueue {
    /// A queue whose messages stay invisible for `visibility` after each receive.
    pub fn new(visibility: Duration, max_receive_count: u32, clock: super::Clock) -> Self {
        DevQueue {
            state: Mutex::new(State::default()),
            visibility,
            max_receive_count,
            clock,
            arrived: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Receives up to `max` visible messages; those received `maxReceiveCount` times already go
    /// to the DLQ instead, as SQS's redrive policy does.
    pub fn receive(&self, max: usize) -> Vec<Message> {
        let now = self.clock.now();
        let mut state = self.lock();
        let mut out = Vec::new();
        let mut moved = Vec::new();
        for (&seq, m) in state.messages.iter_mut() {
            if out.len() == max {
                break;
            }
            if m.visible_at > now {
                continue;
            }
            if m.receive_count >= self.max_receive_count {
                moved.push(seq);
                continue;
            }
            m.receive_count += 1;
            m.visible_at = now + self.visibility;
            out.push(Message {
                message_id: m.id.clone(),
                body: m.body.clone(),
                receive_count: m.receive_count,
            });
        }
        for seq in moved {
            if let Some(m) = state.take(seq) {
                state.dlq.push(m);
            }
        }
        out
    }

    /// Deletes processed messages.
    pub fn delete(&self, ids: &[String]) {
        let mut state = self.lock();
        for id in ids {
            if let Some(seq) = state.order.get(id).copied() {
                state.take(seq);
            }
        }
    }

    /// How many messages are where.
    pub fn depths(&self) -> Depths {
        let now = self.clock.now();
        let state = self.lock();
        Depths {
            queued: state.messages.len(),
            in_flight: state
                .messages
                .values()
                .filter(|m| m.visible_at > now)
                .count(),
            dlq: state.dlq.len(),
        }
    }

    /// Drops the messages of `webhook_id` (the fault that loses an accepted webhook).
    pub fn discard(&self, webhook_id: &str) {
        let needle = format!("\"webhookId\":\"{webhook_id}\"");
        let mut state = self.lock();
        let gone: Vec<u64> = state
            .messages
            .iter()
            .filter(|(_, m)| m.body.contains(&needle))
            .map(|(&seq, _)| seq)
            .collect();
        for seq in gone {
            state.take(seq);
        }
    }

    /// Moves every DLQ message back to the queue with a fresh receive count; returns how many.
    pub fn redrive(&self) -> usize {
        let mut state = self.lock();
        let moved: Vec<Stored> = state.dlq.drain(..).collect();
        let n = moved.len();
        for mut m in moved {
            m.receive_count = 0;
            m.visible_at = Duration::ZERO;
            state.push(m);
        }
        drop(state);
        self.arrived.notify_one();
        n
    }

    /// Waits until a message may have arrived, at most `timeout`.
    pub async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.arrived.notified()).await;
    }
}

impl Queue for DevQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), BackendError> {
        let body =
            serde_json::to_string(message).map_err(|e| BackendError::Unavailable(e.to_string()))?;
        {
            let mut state = self.lock();
            let id = format!("msg-{}", state.next_id + 1);
            state.push(Stored {
                id,
                body,
                receive_count: 0,
                visible_at: Duration::ZERO,
            });
        }
        self.arrived.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str) -> QueueMessage {
        QueueMessage {
            webhook_id: id.into(),
            timestamp: "t".into(),
            provider: "p".into(),
        }
    }

    #[tokio::test]
    async fn unacknowledged_messages_come_back_then_go_to_the_dlq() {
        let clock = super::super::Clock::manual();
        let q = DevQueue::new(Duration::from_secs(30), 3, clock.clone());
        q.send(&message("w1")).await.unwrap();
        for attempt in 1..=3 {
            let got = q.receive(10);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].receive_count, attempt);
            assert!(
                q.receive(10).is_empty(),
                "invisible during the visibility timeout"
            );
            clock.advance(Duration::from_secs(30));
        }
        assert!(
            q.receive(10).is_empty(),
            "the fourth receive moves it to the DLQ"
        );
        assert_eq!(
            q.depths(),
            Depths {
                queued: 0,
                in_flight: 0,
                dlq: 1
            }
        );
        assert_eq!(q.redrive(), 1);
        assert_eq!(q.receive(10)[0].receive_count, 1);
    }

    #[tokio::test]
    async fn deleted_messages_are_gone() {
        let q = DevQueue::new(Duration::from_secs(30), 3, super::super::Clock::manual());
        q.send(&message("w1")).await.unwrap();
        q.send(&message("w2")).await.unwrap();
        let got = q.receive(1);
        assert_eq!(got.len(), 1, "batches are bounded");
        q.delete(&[got[0].message_id.clone()]);
        assert_eq!(q.depths().queued, 1);
    }
}
