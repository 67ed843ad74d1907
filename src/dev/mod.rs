//! `wh dev`: the compiled stack on loopback, calling the same `runtime/` code as the Lambdas,
//! with in-memory backends, API Gateway's throttle and WAF's per-IP rule emulated.

pub mod faults;
pub mod feed;
pub mod ops;
pub mod queue;
pub mod secrets;
pub mod serve;
pub mod server;
pub mod throttle;
pub mod waf;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use wh::ir::Stack;
use wh::ir::handlers;
use wh_runtime::audit;
use wh_runtime::backends::memory::{
    MemoryAudit, MemoryBus, MemoryNotifier, MemorySecrets, MemoryStore,
};
use wh_runtime::model::Status;
use wh_runtime::processor::Processor;
use wh_runtime::receiver::Receiver;

use faults::{FlakyBus, FlakyQueue};
use feed::Feed;
use queue::DevQueue;

/// Time as the dev stack's queue and processor see it: real time, sped up by a scale (so retries
/// and DLQ redrive happen in seconds), or a manual clock for tests.
#[derive(Clone, Debug)]
pub enum Clock {
    /// Real time since `start`, multiplied by `scale`.
    Real {
        /// When the stack started.
        start: std::time::Instant,
        /// Speed-up factor.
        scale: f64,
    },
    /// A clock tests move by hand.
    #[cfg_attr(not(test), allow(dead_code))]
    Manual(Arc<Mutex<Duration>>),
}

impl Clock {
    /// Real time sped up by `scale`.
    pub fn scaled(scale: f64) -> Clock {
        Clock::Real {
            start: std::time::Instant::now(),
            scale,
        }
    }

    /// A manual clock at zero.
    #[cfg(test)]
    pub fn manual() -> Clock {
        Clock::Manual(Arc::new(Mutex::new(Duration::ZERO)))
    }

    /// Moves a manual clock forward.
    #[cfg(test)]
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(t) = self {
            *t.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += by;
        }
    }

    /// Time since the start, in stack time.
    pub fn now(&self) -> Duration {
        match self {
            Clock::Real { start, scale } => scaled(start.elapsed(), *scale),
            Clock::Manual(t) => *t.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        }
    }

    /// Wall-clock unix seconds (records carry real timestamps).
    pub fn unix_secs(&self) -> i64 {
        OffsetDateTime::now_utc().unix_timestamp()
    }

    /// Wall-clock unix nanoseconds, for ordering the change feed.
    pub fn unix_nanos(&self) -> i128 {
        OffsetDateTime::now_utc().unix_timestamp_nanos()
    }

    /// A stack-time duration in real time.
    pub fn real(&self, stack_time: Duration) -> Duration {
        match self {
            Clock::Real { scale, .. } if *scale > 0.0 => scaled(stack_time, 1.0 / *scale),
            _ => stack_time,
        }
    }
}

/// `d` times `factor`, saturating: `Duration::mul_f64` panics when the product overflows
/// (`--time-scale 1e300`) or is not a number.
fn scaled(d: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(if factor > 0.0 {
        Duration::MAX
    } else {
        Duration::ZERO
    })
}

/// The `--time-scale` range: queue time from a thousand times slower to a thousand times
/// faster than real time (a 30 s visibility timeout in 30 ms); beyond it timers round to
/// nothing or to hours.
pub const TIME_SCALE: std::ops::RangeInclusive<f64> = 0.001..=1000.0;

/// How `wh dev` runs.
#[derive(Clone, Debug)]
pub struct DevOptions {
    /// Speed-up of queue time (visibility timeouts, batching windows).
    pub time_scale: f64,
    /// Fraction of processor runs that fail.
    pub fail_processor: f64,
    /// Fraction of enqueues that fail.
    pub fail_enqueue: f64,
    /// Print each webhook's journey.
    pub verbose: bool,
    /// Emulate the stage throttle and the WAF rule (off only for benchmarks).
    pub limits: bool,
    /// The secrets file `wh secrets` writes back to, so `wh send` signs with what is served.
    pub secrets_file: Option<std::path::PathBuf>,
    /// Fraction of accepted webhooks lost after their 200 (a fault for proving the soak's
    /// accounting).
    pub lose_acked: f64,
    /// Added to every answer's round trip (a deployed stack's network).
    pub latency: Duration,
    /// How the WAF rule decides.
    pub waf_mode: waf::Mode,
    /// Processed webhooks whose payload is kept; also the cap on audit records, bus events
    /// and alerts kept (see [`KEEP`]).
    pub keep: usize,
    /// How long a request body may take to arrive before the answer is 408.
    pub body_timeout: Duration,
}

/// What `wh dev` keeps by default: the payload of the 10,000 most recently processed
/// webhooks, and as many audit records, bus events and alerts. Every webhook's id, status and
/// times are kept, however many (the soak's accounting reads them): measured at about 0.8 KB
/// each (a 10-minute soak at 1000/s peaked at 492 MiB), so an hour at 1000/s takes about 3 GB
/// instead of the 100 GB keeping everything would.
pub const KEEP: usize = 10_000;

type DevReceiver = Receiver<Arc<MemoryStore>, FlakyQueue<Arc<DevQueue>>, Arc<MemorySecrets>>;
type DevProcessor = Processor<Arc<MemoryStore>, FlakyBus<Arc<MemoryBus>>, Arc<MemoryNotifier>>;

/// Counters of what the emulated gateway did.
#[derive(Debug, Default)]
pub struct Counters {
    /// Answered 429 by the throttle.
    pub throttled: AtomicU64,
    /// Answered 403 by the WAF rule.
    pub blocked: AtomicU64,
    /// Answers by status.
    pub answers: Mutex<BTreeMap<u16, u64>>,
}

/// The whole stack in memory.
pub struct DevStack {
    /// The stack model it serves.
    pub stack: Stack,
    /// The receiver, as the Lambda runs it.
    pub receiver: DevReceiver,
    /// The processor, as the Lambda runs it.
    pub processor: DevProcessor,
    /// The webhook table.
    pub store: Arc<MemoryStore>,
    /// The processing queue and DLQ.
    pub queue: Arc<DevQueue>,
    /// The bus.
    pub bus: Arc<MemoryBus>,
    /// The alert topic.
    pub alerts: Arc<MemoryNotifier>,
    /// The audit table.
    pub audit: Arc<MemoryAudit>,
    /// Gateway counters.
    pub counters: Counters,
    /// The fault that loses accepted webhooks (changeable through `PUT /_wh/faults`).
    pub lose_acked: faults::Rate,
    /// Queue time.
    pub clock: Clock,
    /// How it runs.
    pub options: DevOptions,
    feed: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<audit::StreamChange>>>,
}

impl DevStack {
    /// The stack for `stack`, served at `base_url` (the stage URL, which Square signs).
    pub fn new(
        stack: Stack,
        base_url: &str,
        secrets: Arc<MemorySecrets>,
        options: DevOptions,
    ) -> Arc<DevStack> {
        let clock = Clock::scaled(options.time_scale);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let store =
            Arc::new(MemoryStore::bounded(options.keep).with_feed(Feed::new(tx, clock.clone())));
        let queue = Arc::new(DevQueue::new(
            Duration::from_secs(stack.queues.visibility_secs),
            stack.queues.max_receive_count,
            clock.clone(),
        ));
        let receiver_config = handlers::receiver_config(&stack, base_url);
        let bus = Arc::new(MemoryBus::bounded(options.keep));
        let alerts = Arc::new(MemoryNotifier::bounded(options.keep));
        let processor_config = handlers::processor_config(&stack);
        Arc::new(DevStack {
            receiver: Receiver::new(
                receiver_config,
                store.clone(),
                FlakyQueue {
                    inner: queue.clone(),
                    rate: faults::Rate::new(options.fail_enqueue),
                },
                secrets.clone(),
            ),
            processor: Processor::new(
                processor_config,
                store.clone(),
                FlakyBus {
                    inner: bus.clone(),
                    rate: faults::Rate::new(options.fail_processor),
                },
                alerts.clone(),
            ),
            stack,
            store,
            queue,
            bus,
            alerts,
            audit: Arc::new(MemoryAudit::bounded(options.keep)),
            counters: Counters::default(),
            lose_acked: faults::Rate::new(options.lose_acked),
            clock,
            options,
            feed: Mutex::new(Some(rx)),
        })
    }

    /// Runs the processor on the queue: batches of the spec's size, gathered for its batching
    /// window, deleted when processed, redelivered after the visibility timeout when not.
    pub async fn process_queue(self: Arc<Self>, stop: tokio::sync::watch::Receiver<bool>) {
        let batch_size = usize::try_from(self.stack.processor_source.batch_size).unwrap_or(10);
        let window = self.clock.real(Duration::from_secs(
            self.stack.processor_source.batching_window_secs,
        ));
        loop {
            if *stop.borrow() {
                return;
            }
            let mut batch = self.queue.receive(batch_size);
            if batch.is_empty() {
                self.queue.wait(Duration::from_millis(50)).await;
                continue;
            }
            if batch.len() < batch_size && !window.is_zero() {
                tokio::time::sleep(window).await;
                batch.extend(self.queue.receive(batch_size - batch.len()));
            }
            let failed = self
                .processor
                .handle_batch(&batch, OffsetDateTime::now_utc())
                .await;
            let done: Vec<String> = batch
                .iter()
                .map(|m| m.message_id.clone())
                .filter(|id| !failed.contains(id))
                .collect();
            self.queue.delete(&done);
            if self.options.verbose {
                for m in &batch {
                    let verdict = if failed.contains(&m.message_id) {
                        "failed"
                    } else {
                        "processed"
                    };
                    println!(
                        "queue: {} {verdict} (receive {})",
                        m.message_id, m.receive_count
                    );
                }
            }
        }
    }

    /// Runs the audit logger on the table's change feed.
    pub async fn audit_changes(self: Arc<Self>) {
        let Some(mut rx) = self
            .feed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let retention = i64::try_from(self.stack.retention.audit_records_secs).unwrap_or(i64::MAX);
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            let failed = audit::handle_batch(&self.audit, batch, retention).await;
            if !failed.is_empty() {
                eprintln!("audit: {} change(s) not recorded", failed.len());
            }
        }
    }

    /// The status `GET /_wh/status` and `wh status --target` report.
    pub fn status(&self) -> serde_json::Value {
        let mut by_status: BTreeMap<&str, usize> =
            Status::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for (status, n) in self.store.counts() {
            by_status.insert(status.as_str(), n);
        }
        let answers: BTreeMap<String, u64> = self
            .counters
            .answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        serde_json::json!({
            "stack": format!("{}-{}", self.stack.name, self.stack.default_suffix),
            "webhooks": by_status,
            "queue": self.queue.depths(),
            "dlq_depth": self.queue.depths().dlq,
            "audit_records": self.audit.written(),
            "events_published": self.bus.published(),
            "alerts_published": self.alerts.published(),
            "throttled": self.counters.throttled.load(Ordering::Relaxed),
            "blocked": self.counters.blocked.load(Ordering::Relaxed),
            "answers": answers,
        })
    }

    /// What the spec asks for that `wh dev` does not emulate, named at start-up.
    pub fn not_emulated(&self) -> Vec<String> {
        let mut out = vec![
            "KMS encryption, IAM roles and TLS-only policies (no AWS here)".to_owned(),
            "X-Ray tracing, CloudWatch alarms and metrics (EMF lines are not aggregated), access logs".to_owned(),
            "the SNS e-mail subscriptions (alerts are recorded, see /_wh/status)".to_owned(),
            "EventBridge rules (published events are recorded, not routed)".to_owned(),
            "DynamoDB TTL expiry of processed webhooks and audit records".to_owned(),
            "reserved concurrency: one processor worker, batches in turn".to_owned(),
            format!(
                "payloads of more than the {} most recently processed webhooks (older ones keep id, status and times; audit records, bus events and alerts likewise capped)",
                self.options.keep
            ),
        ];
        if self.options.waf_mode == waf::Mode::Exact {
            out.push("WAF's re-evaluation lag (the per-IP window is applied exactly, at once; --waf-mode aws has it)".to_owned());
        }
        if self.options.latency.is_zero() {
            out.push("the network's round trip (--latency adds one)".to_owned());
        }
        if !self.stack.waf.managed.is_empty() {
            out.push(format!(
                "WAF managed rule groups ({})",
                self.stack
                    .waf
                    .managed
                    .iter()
                    .map(|m| m.aws_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(domain) = &self.stack.domain {
            out.push(format!("the custom domain {}", domain.name));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_saturates_instead_of_panicking() {
        let s = Duration::from_secs(2);
        assert_eq!(scaled(s, 1.5), Duration::from_secs(3));
        assert_eq!(scaled(s, 1e300), Duration::MAX);
        assert_eq!(scaled(s, 1.0 / 1e-300), Duration::MAX);
        assert_eq!(scaled(s, 1e-300), Duration::ZERO);
        assert_eq!(scaled(Duration::MAX, 2.0), Duration::MAX);
        assert_eq!(scaled(s, f64::NAN), Duration::ZERO);
    }
}
