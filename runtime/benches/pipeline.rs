//! One webhook through the whole pipeline in-process, stage by stage, on the in-memory
//! backends with warm caches (numbers in docs/testing.md; not a test): what the Lambdas' own
//! code costs per webhook, with no HTTP and no retention, and what `wh dev`'s table stream adds.
//! The floor `wh dev` stands on: it runs this same code for every webhook it accepts.
//!
//! - `receiver`: verify, parse, store, enqueue (signed 2 KB Stripe-style body);
//! - `processor`: one queue message: read, normalise, publish, payment state, mark processed;
//! - `audit logger`: the four stream records one webhook makes (its INSERT, the MODIFYs to
//!   ENQUEUED and PROCESSED, and its payment object's INSERT);
//! - `receiver + processor, table with a stream`: the same two with `wh dev`'s stream on, whose
//!   difference from the two above is what making the images costs.
//!
//! Before the timings it prints the heap allocations each stage makes per webhook (a counting
//! allocator around mimalloc, which `wh dev` uses): cold memory makes each one dear in a long
//! run.
//!
//! Run: `cargo bench -p wh-runtime --bench pipeline`.

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc as System;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use time::OffsetDateTime;
use wh_runtime::audit::{Image, StreamChange, handle_batch};
use wh_runtime::backends::memory::{
    ChangeFeed, MemoryAudit, MemoryBus, MemoryNotifier, MemoryQueue, MemorySecrets, MemoryStore,
};
use wh_runtime::headers::Headers;
use wh_runtime::model::QueueMessage;
use wh_runtime::normalise::Family;
use wh_runtime::processor::{Message, Processor, ProcessorConfig};
use wh_runtime::receiver::{Receiver, Request};
use wh_runtime::secret::SecretValue;

/// mimalloc (`wh dev`'s allocator), counting allocations.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to mimalloc unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SECRET: &str = "whsec_YmVuY2htYXJrLXNlY3JldA==";

#[path = "../../benches/common/webhook.rs"]
mod webhook;

#[path = "../tests/support/stripe.rs"]
mod stripe;

/// A stream that keeps its records, as `wh dev`'s hands them to the audit logger.
#[derive(Debug, Default, Clone)]
struct Kept(Arc<Mutex<Vec<StreamChange>>>);

impl ChangeFeed for Kept {
    fn changed(&self, pk: String, old: Option<Image>, new: Option<Image>) {
        let mut kept = self.0.lock().unwrap();
        let n = kept.len().to_string();
        kept.push(StreamChange::of_write(n, 1_800_000_000, pk, old, new));
    }
}

type Store = Arc<MemoryStore>;

struct Pipeline {
    receiver: Receiver<Store, Arc<MemoryQueue>, MemorySecrets>,
    processor: Processor<Store, MemoryBus, MemoryNotifier>,
    queue: Arc<MemoryQueue>,
    stream: Kept,
}

impl Pipeline {
    fn new(with_stream: bool) -> Self {
        let stream = Kept::default();
        // Payloads of the last 100 processed webhooks kept, so a long run stays small.
        let store = MemoryStore::bounded(100);
        let store = Arc::new(if with_stream {
            store.with_feed(stream.clone())
        } else {
            store
        });
        let secrets = MemorySecrets::default();
        secrets.set("stripe", SecretValue::new(SECRET));
        let config = stripe::stripe_only(262_144);
        let queue = Arc::new(MemoryQueue::default());
        let processor = ProcessorConfig {
            families: [("stripe".to_owned(), Family::Stripe)].into(),
            critical_events: Vec::new(),
            processed_ttl_secs: 86_400,
            max_receive_count: 3,
        };
        Pipeline {
            receiver: Receiver::new(config, store.clone(), queue.clone(), secrets),
            processor: Processor::new(
                processor,
                store,
                MemoryBus::bounded(1),
                MemoryNotifier::bounded(1),
            ),
            queue,
            stream,
        }
    }

    fn request(i: u64, now: i64) -> Request {
        let (headers, body) = webhook::stripe(SECRET, i, now);
        Request {
            provider: "stripe".into(),
            headers: headers.into_iter().collect::<Headers>(),
            body,
            trace_header: None,
        }
    }

    /// Receives a webhook; returns its queue message.
    fn receive(&self, rt: &tokio::runtime::Runtime, request: Request) -> Message {
        let response = rt.block_on(self.receiver.handle(request, OffsetDateTime::now_utc()));
        assert_eq!(response.status, 200, "{:?}", response.body);
        let sent: Vec<QueueMessage> = self.queue.drain();
        Message {
            message_id: "m".into(),
            body: serde_json::to_string(&sent[0]).unwrap(),
            receive_count: 1,
        }
    }

    fn process(&self, rt: &tokio::runtime::Runtime, message: Message) {
        let failed = rt.block_on(
            self.processor
                .handle_batch(std::slice::from_ref(&message), OffsetDateTime::now_utc()),
        );
        assert!(failed.is_empty());
    }

    fn stream_records(&self) -> Vec<StreamChange> {
        std::mem::take(&mut *self.stream.0.lock().unwrap())
    }
}

/// Allocations made by `f`.
fn allocations<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let out = f();
    (ALLOCATIONS.load(Ordering::Relaxed) - before, out)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let now = webhook::now();
    let audit = MemoryAudit::bounded(1);
    let mut i = 1_000_000_u64;
    let mut next = || {
        i += 1;
        i
    };

    // Allocations per webhook, stage by stage (the request itself made beforehand).
    for with_stream in [false, true] {
        let p = Pipeline::new(with_stream);
        let request = Pipeline::request(next(), now);
        let (received, message) = allocations(|| p.receive(&rt, request));
        let (processed, ()) = allocations(|| p.process(&rt, message));
        let records = p.stream_records();
        let n = records.len();
        let (audited, failed) = allocations(|| rt.block_on(handle_batch(&audit, records, 1)));
        assert!(failed.is_empty());
        println!(
            "allocations per webhook, table {}: receiver {received}, processor {processed}{}",
            if with_stream {
                "with a stream"
            } else {
                "without a stream"
            },
            if with_stream {
                format!(", audit logger {audited} ({n} stream records)")
            } else {
                String::new()
            }
        );
    }

    let plain = Pipeline::new(false);
    c.bench_function("receiver", |b| {
        b.iter_batched(
            || Pipeline::request(next(), now),
            |request| plain.receive(&rt, request),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("processor", |b| {
        b.iter_batched(
            || plain.receive(&rt, Pipeline::request(next(), now)),
            |message| plain.process(&rt, message),
            BatchSize::SmallInput,
        )
    });
    let streamed = Pipeline::new(true);
    c.bench_function("audit logger: one webhook's stream records", |b| {
        b.iter_batched(
            || {
                let message = streamed.receive(&rt, Pipeline::request(next(), now));
                streamed.process(&rt, message);
                streamed.stream_records()
            },
            |records| {
                assert_eq!(records.len(), 4);
                assert!(rt.block_on(handle_batch(&audit, records, 1)).is_empty());
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("receiver + processor, table with a stream", |b| {
        b.iter_batched(
            || Pipeline::request(next(), now),
            |request| {
                let message = streamed.receive(&rt, request);
                streamed.process(&rt, message);
                streamed.stream_records()
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
