//! Fault injection for reliability testing: a fraction of enqueues and of processor runs fail,
//! the way a throttled SQS or an EventBridge outage would; and a fraction of accepted webhooks
//! is lost after its 200 (`--lose-acked`), the defect the soak's accounting must catch.

use std::sync::atomic::{AtomicU64, Ordering};

use wh_runtime::backends::{BackendError, Bus, Queue};
use wh_runtime::model::{NormalisedEvent, QueueMessage};

/// A failure probability that can be changed while serving (`PUT /_wh/faults`), so a test can
/// break the processor, fill the DLQ, mend it and redrive.
#[derive(Debug, Default)]
pub struct Rate(AtomicU64);

impl Rate {
    /// A probability, 0 to 1.
    pub fn new(p: f64) -> Self {
        Rate(AtomicU64::new(p.to_bits()))
    }

    /// The probability now.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    /// Changes it.
    pub fn set(&self, p: f64) {
        self.0.store(p.to_bits(), Ordering::Relaxed);
    }

    /// Draws: true with the probability.
    pub fn fails(&self) -> bool {
        let p = self.get();
        p > 0.0 && fastrand::f64() < p
    }
}

/// A queue whose sends fail with probability `rate`.
#[derive(Debug)]
pub struct FlakyQueue<Q> {
    /// The real queue.
    pub inner: Q,
    /// Failure probability, 0 to 1.
    pub rate: Rate,
}

impl<Q: Queue> Queue for FlakyQueue<Q> {
    async fn send(&self, message: &QueueMessage) -> Result<(), BackendError> {
        if self.rate.fails() {
            return Err(BackendError::Unavailable(
                "injected enqueue failure (--fail-enqueue)".into(),
            ));
        }
        self.inner.send(message).await
    }
}

/// A bus whose publishes fail with probability `rate`: the processor run fails.
#[derive(Debug)]
pub struct FlakyBus<B> {
    /// The real bus.
    pub inner: B,
    /// Failure probability, 0 to 1.
    pub rate: Rate,
}

impl<B: Bus> Bus for FlakyBus<B> {
    async fn publish(&self, event: &NormalisedEvent) -> Result<(), BackendError> {
        if self.rate.fails() {
            return Err(BackendError::Unavailable(
                "injected processor failure (--fail-processor)".into(),
            ));
        }
        self.inner.publish(event).await
    }
}
