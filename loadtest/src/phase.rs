//! One load phase on goose, as an **open workload**: every request has a scheduled start
//! (`start + n / rate` within its stream), and is sent at that time whether or not earlier
//! answers have come back. Goose provides the users, the HTTP clients and its reports; the
//! schedule and the timing are this module's own, so a slow answer never delays the next
//! request (no coordinated omission) and latency is measured from the *scheduled* start.
//!
//! A phase is a set of streams. A stream is one source address (or the operating system's
//! choice) sending `count` requests at `rate`, with enough goose users that each request can
//! be in flight at its time: user `u` belongs to the stream whose user range holds `u`, claims
//! the stream's next request number, sleeps until its scheduled time, sends it and records the
//! answer. Requests a user could not send on time (all of the stream's users were waiting for
//! answers) go out late; [`PhaseResult`] keeps both times so a verdict can tell a generator
//! that fell behind from a server that refused.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use goose::client::GooseClientBuilder;
use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::*;

/// Builds the `n`th request: its headers and body, signed.
pub type Signer = Arc<dyn Fn(u64) -> (Vec<(String, String)>, Vec<u8>) + Send + Sync>;

/// One source's share of a phase.
#[derive(Clone, Debug)]
pub struct Stream {
    /// Its number in the phase's plan: the same in every shard, which sends only its own.
    pub id: usize,
    /// The address requests are sent from (`None`: the operating system picks).
    pub source: Option<IpAddr>,
    /// Requests per second; `None` sends every request at the stream's start, as fast as the
    /// users can.
    pub rate: Option<f64>,
    /// When the stream's first request is due, after the phase's schedule starts.
    pub start: Duration,
    /// How many requests the stream sends.
    pub count: u64,
    /// Goose users serving the stream (requests that can be in flight at once).
    pub users: usize,
    /// Stop sending this long after the first answer that carries the phase's block header.
    pub stop_after_block: Option<Duration>,
    /// A request number whose send time the measurement keeps (the per-IP crossing).
    pub mark: Option<u64>,
}

/// What one phase sends.
#[derive(Clone)]
pub struct Phase {
    /// Name, for reports (`throttle`, `per-ip`).
    pub name: String,
    /// Scheme, host and port (`http://127.0.0.1:8787`).
    pub host: String,
    /// Path posted to (`/live/webhook/stripe`).
    pub path: String,
    /// The streams, sent together.
    pub streams: Vec<Stream>,
    /// How long one request may take before it counts as unanswered.
    pub timeout: Duration,
    /// Goose report files to write (`.html`, `.json`, `.md`).
    pub report_files: Vec<PathBuf>,
    /// Signs each request.
    pub signer: Signer,
    /// The response header (name, value) that marks a 403 as the per-IP rule's.
    pub block_header: Option<(String, String)>,
    /// Keep the `webhookId` of every 2xx answer (the soak's accounting).
    pub collect_ids: bool,
    /// When the schedule starts (a sharded run's agreed instant); `None`: as soon as every
    /// user is ready.
    pub start: Option<Instant>,
}

/// One request, timed from the phase's schedule start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Which stream sent it.
    pub stream: usize,
    /// Its number within the stream (0-based, in scheduled order).
    pub seq: u64,
    /// When it was due.
    pub scheduled: Duration,
    /// When it was sent.
    pub sent: Duration,
    /// When the whole answer had arrived.
    pub at: Duration,
    /// HTTP status (0: no answer: connection error or timeout).
    pub status: u16,
    /// A 403 carrying the phase's block header: the per-IP rule's answer, not another 403.
    pub rule_block: bool,
}

impl Answer {
    /// Latency from the scheduled start (what a provider sending at that time would see).
    pub fn latency(&self) -> Duration {
        self.at.saturating_sub(self.scheduled)
    }

    /// How late the generator sent it.
    pub fn lateness(&self) -> Duration {
        self.sent.saturating_sub(self.scheduled)
    }
}

/// What a phase measured.
#[derive(Clone, Debug, Default)]
pub struct PhaseResult {
    /// Every request sent, in answer order.
    pub answers: Vec<Answer>,
    /// The `webhookId` of every 2xx answer (with [`Phase::collect_ids`]).
    pub webhook_ids: Vec<String>,
    /// From the schedule's start to the last answer.
    pub elapsed: Duration,
    /// Goose users the phase ran.
    pub users: usize,
    /// How long after the schedule's start the last user was ready (zero when the schedule
    /// waited for them).
    pub start_late: Duration,
}

struct StreamState {
    spec: Stream,
    /// One client per stream, shared by its users (a client is cheap to clone and pools its
    /// connections; building one per user costs milliseconds each).
    client: reqwest::Client,
    next: AtomicU64,
    /// Nanoseconds after the schedule start from which nothing more is sent (u64::MAX: none).
    stop_at: AtomicU64,
}

struct State {
    path: String,
    streams: Vec<StreamState>,
    /// User index ranges: stream `i` has users `[first_user[i], first_user[i + 1])`.
    first_user: Vec<usize>,
    signer: Signer,
    users: usize,
    ready: AtomicU64,
    t0: OnceLock<Instant>,
    /// Nanoseconds from a preset start to the last user's readiness.
    start_late: AtomicU64,
    signed: AtomicU64,
    block_header: Option<(String, String)>,
    collect_ids: bool,
    preset: Option<Instant>,
    answers: Mutex<Vec<Answer>>,
    ids: Mutex<Vec<String>>,
}

/// The longest the users wait for each other before the schedule starts.
const READY_WAIT: Duration = Duration::from_secs(60);

// Goose transactions are plain functions; the phase's state reaches them through this slot.
static STATE: Mutex<Option<Arc<State>>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn state() -> Result<Arc<State>, Box<TransactionError>> {
    lock(&STATE)
        .clone()
        .ok_or_else(|| Box::new(TransactionError::Custom("no load phase is running".into())))
}

impl State {
    fn stream_of(&self, user: usize) -> Option<usize> {
        (0..self.streams.len()).find(|&i| user < self.first_user[i + 1])
    }

    /// The schedule's start: set when the last user is ready (a few milliseconds ahead), so
    /// goose's start-up of the users never counts as lateness. Should a user never come,
    /// the others start after [`READY_WAIT`].
    async fn t0(&self) -> Instant {
        let n = self.ready.fetch_add(1, Ordering::AcqRel) + 1;
        if let Some(preset) = self.preset {
            if n as usize >= self.users {
                let late = Instant::now().saturating_duration_since(preset);
                self.start_late.store(nanos(late), Ordering::Relaxed);
            }
            return preset;
        }
        if n as usize >= self.users {
            return *self
                .t0
                .get_or_init(|| Instant::now() + Duration::from_millis(20));
        }
        let waited = Instant::now();
        loop {
            if let Some(t0) = self.t0.get() {
                return *t0;
            }
            if waited.elapsed() > READY_WAIT {
                return *self.t0.get_or_init(Instant::now);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

async fn run_user(user: &mut GooseUser) -> TransactionResult {
    let s = state()?;
    let Some(index) = s.stream_of(user.weighted_users_index) else {
        return Ok(());
    };
    let stream = &s.streams[index];
    user.client = stream.client.clone();
    let t0 = s.t0().await;
    loop {
        let n = stream.next.fetch_add(1, Ordering::Relaxed);
        if n >= stream.spec.count {
            return Ok(());
        }
        let offset = match stream.spec.rate {
            Some(rate) if rate > 0.0 => Duration::from_secs_f64(n as f64 / rate),
            _ => Duration::ZERO,
        };
        let scheduled = stream.spec.start + offset;
        tokio::time::sleep_until((t0 + scheduled).into()).await;
        if nanos(t0.elapsed()) >= stream.stop_at.load(Ordering::Relaxed) {
            return Ok(());
        }
        let (headers, body) = (s.signer)(s.signed.fetch_add(1, Ordering::Relaxed));
        let mut request = user.get_request_builder(&GooseMethod::Post, &s.path)?;
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let request = GooseRequest::builder()
            .method(GooseMethod::Post)
            .path(s.path.as_str())
            .set_request_builder(request.body(body))
            .build();
        let sent = t0.elapsed();
        let goose = user.request(request).await?;
        let (status, rule_block, body) = match goose.response {
            Ok(r) => {
                let status = r.status().as_u16();
                let marked = s.block_header.as_ref().is_some_and(|(name, value)| {
                    r.headers()
                        .get(name.as_str())
                        .is_some_and(|v| v.as_bytes() == value.as_bytes())
                });
                // The whole body is read, also when unused, so the connection is reused.
                let body = r.bytes().await.ok();
                (status, status == 403 && marked, body)
            }
            Err(_) => (0, false, None),
        };
        let at = t0.elapsed();
        if rule_block && let Some(after) = stream.spec.stop_after_block {
            let _ = stream
                .stop_at
                .fetch_min(nanos(at + after), Ordering::Relaxed);
        }
        if s.collect_ids
            && (200..300).contains(&status)
            && let Some(id) = body
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v["webhookId"].as_str().map(str::to_owned))
        {
            lock(&s.ids).push(id);
        }
        lock(&s.answers).push(Answer {
            stream: index,
            seq: n,
            scheduled,
            sent,
            at,
            status,
            rule_block,
        });
    }
}

/// Runs one phase: every stream's requests at their scheduled times, each answer recorded.
/// Bounded: each stream sends at most `count` requests, each waits at most `timeout`.
pub async fn run_phase(phase: &Phase) -> Result<PhaseResult, String> {
    let mut first_user = vec![0];
    for s in &phase.streams {
        first_user.push(first_user.last().copied().unwrap_or(0) + s.users.max(1));
    }
    let users = first_user.last().copied().unwrap_or(0);
    if users == 0 {
        return Err(format!("phase {} has no streams", phase.name));
    }
    let increase_rate = (users * 4).max(100);
    let mut streams = Vec::new();
    for s in &phase.streams {
        let mut builder = reqwest::Client::builder()
            .timeout(phase.timeout)
            .pool_max_idle_per_host(s.users.max(1));
        if let Some(ip) = s.source {
            builder = builder.local_address(ip);
        }
        streams.push(StreamState {
            spec: s.clone(),
            client: builder.build().map_err(|e| e.to_string())?,
            next: AtomicU64::new(0),
            stop_at: AtomicU64::new(u64::MAX),
        });
    }
    let state = Arc::new(State {
        path: phase.path.clone(),
        streams,
        first_user,
        signer: phase.signer.clone(),
        users,
        ready: AtomicU64::new(0),
        t0: OnceLock::new(),
        start_late: AtomicU64::new(0),
        preset: phase.start,
        signed: AtomicU64::new(0),
        block_header: phase.block_header.clone(),
        collect_ids: phase.collect_ids,
        answers: Mutex::new(Vec::new()),
        ids: Mutex::new(Vec::new()),
    });
    *lock(&STATE) = Some(state.clone());
    // Goose writes one report per file name, by extension (HTML, JSON, Markdown).
    let mut config = GooseConfiguration::default();
    config.report_file = phase
        .report_files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    // One client built up front and cloned to every user (goose otherwise builds a client per
    // user as it launches them, milliseconds each, so 500 users take seconds to start); each
    // user then takes its stream's client anyway.
    let attack = GooseAttack::initialize_with_config(config)
        .and_then(|a| {
            a.set_client_builder_without_cookies(GooseClientBuilder::new().without_cookies())
        })
        .map_err(|e| e.to_string())?
        .register_scenario(scenario!("webhooks").register_transaction(transaction!(run_user)))
        .set_default(GooseDefault::Host, phase.host.as_str())
        .and_then(|a| a.set_default(GooseDefault::Users, users))
        .and_then(|a| {
            a.set_default(
                GooseDefault::IncreaseRate,
                increase_rate.to_string().as_str(),
            )
        })
        // One iteration: each user runs its loop until its stream is spent; goose ends the
        // phase when every user has stopped.
        .and_then(|a| a.set_default(GooseDefault::Iterations, 1))
        .and_then(|a| a.set_default(GooseDefault::Quiet, 1))
        .and_then(|a| a.set_default(GooseDefault::NoPrintMetrics, true))
        .and_then(|a| a.set_default(GooseDefault::NoTelnet, true))
        .and_then(|a| a.set_default(GooseDefault::NoAutoStart, false))
        .map_err(|e| e.to_string())?;
    let result = attack.execute().await.map_err(|e| e.to_string());
    *lock(&STATE) = None;
    result?;
    let answers = std::mem::take(&mut *lock(&state.answers));
    let elapsed = answers.iter().map(|a| a.at).max().unwrap_or_default();
    Ok(PhaseResult {
        answers,
        webhook_ids: std::mem::take(&mut *lock(&state.ids)),
        elapsed,
        users,
        start_late: Duration::from_nanos(state.start_late.load(Ordering::Relaxed)),
    })
}
