//! Fault injection for reliability testing: a fraction of enqueues and of processor runs fail,
//! the way a throttled SQS or an EventBridge outage would.

use wh_runtime::backends::{BackendError, Bus, Queue};
use wh_runtime::model::{NormalisedEvent, QueueMessage};

/// A queue whose sends fail with probability `rate`.
#[derive(Debug)]
pub struct FlakyQueue<Q> {
    /// The real queue.
    pub inner: Q,
    /// Failure probability, 0 to 1.
    pub rate: f64,
}

impl<Q: Queue> Queue for FlakyQueue<Q> {
    async fn send(&self, message: &QueueMessage) -> Result<(), BackendError> {
        if self.rate > 0.0 && fastrand::f64() < self.rate {
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
    pub rate: f64,
}

impl<B: Bus> Bus for FlakyBus<B> {
    async fn publish(&self, event: &NormalisedEvent) -> Result<(), BackendError> {
        if self.rate > 0.0 && fastrand::f64() < self.rate {
            return Err(BackendError::Unavailable(
                "injected processor failure (--fail-processor)".into(),
            ));
        }
        self.inner.publish(event).await
    }
}
