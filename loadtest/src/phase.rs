//! One load phase on goose: `users` goose users, each bound to one of the source addresses,
//! sending signed webhooks with goose's request throttle as the arrival rate.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::metrics::GooseCoordinatedOmissionMitigation;
use goose::prelude::*;

/// Builds the `n`th request: its headers and body, signed.
pub type Signer = Arc<dyn Fn(u64) -> (Vec<(String, String)>, Vec<u8>) + Send + Sync>;

/// What one phase sends.
#[derive(Clone)]
pub struct Phase {
    /// Name, for reports (`throttle`, `per-ip`).
    pub name: String,
    /// Scheme, host and port (`http://127.0.0.1:8787`).
    pub host: String,
    /// Path posted to (`/live/webhook/stripe`).
    pub path: String,
    /// Goose users; user `i` sends from `sources[i % len]` (the OS picks when empty).
    pub users: usize,
    /// Source addresses.
    pub sources: Vec<IpAddr>,
    /// Requests per second, all users together (goose's throttle).
    pub rate: usize,
    /// How long (bounded: goose stops the phase).
    pub duration: Duration,
    /// At most this many requests, whatever the duration.
    pub max_requests: u64,
    /// Goose report files to write (`.html`, `.json`, `.md`).
    pub report_files: Vec<PathBuf>,
    /// Signs each request.
    pub signer: Signer,
}

/// One answer, timed from the phase's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// When the answer arrived.
    pub at: Duration,
    /// When the request was sent.
    pub sent: Duration,
    /// HTTP status (0: no answer).
    pub status: u16,
    /// Which source address index sent it.
    pub source: usize,
}

/// What a phase measured.
#[derive(Clone, Debug, Default)]
pub struct PhaseResult {
    /// Every answer, in arrival order.
    pub answers: Vec<Answer>,
    /// The phase's wall time.
    pub elapsed: Duration,
}

struct State {
    path: String,
    sources: Vec<IpAddr>,
    signer: Signer,
    started: Instant,
    sent: AtomicU64,
    max: u64,
    answers: Mutex<Vec<Answer>>,
}

// Goose transactions are plain functions; the phase's state reaches them through this slot.
static STATE: Mutex<Option<Arc<State>>> = Mutex::new(None);

fn state() -> Result<Arc<State>, Box<TransactionError>> {
    STATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .ok_or_else(|| Box::new(TransactionError::Custom("no load phase is running".into())))
}

async fn bind_source(user: &mut GooseUser) -> TransactionResult {
    let s = state()?;
    if !s.sources.is_empty() {
        let ip = s.sources[user.weighted_users_index % s.sources.len()];
        let builder = reqwest::Client::builder()
            .local_address(ip)
            .timeout(Duration::from_secs(30));
        user.set_client_builder(builder).await?;
    }
    Ok(())
}

async fn send_webhook(user: &mut GooseUser) -> TransactionResult {
    let s = state()?;
    let n = s.sent.fetch_add(1, Ordering::Relaxed);
    if n >= s.max {
        // The request budget is spent: idle until goose ends the phase.
        tokio::time::sleep(Duration::from_millis(50)).await;
        return Ok(());
    }
    let (headers, body) = (s.signer)(n);
    let mut builder = user.get_request_builder(&GooseMethod::Post, &s.path)?;
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path(s.path.as_str())
        .set_request_builder(builder.body(body))
        .build();
    let sent = s.started.elapsed();
    let goose = user.request(request).await?;
    let status = goose.response.as_ref().map_or(0, |r| r.status().as_u16());
    let source = if s.sources.is_empty() {
        0
    } else {
        user.weighted_users_index % s.sources.len()
    };
    s.answers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Answer {
            at: s.started.elapsed(),
            sent,
            status,
            source,
        });
    Ok(())
}

/// Runs one phase and returns every answer with its time.
pub async fn run_phase(phase: &Phase) -> Result<PhaseResult, String> {
    let state = Arc::new(State {
        path: phase.path.clone(),
        sources: phase.sources.clone(),
        signer: phase.signer.clone(),
        started: Instant::now(),
        sent: AtomicU64::new(0),
        max: phase.max_requests,
        answers: Mutex::new(Vec::new()),
    });
    *STATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(state.clone());
    let users = phase.users.max(1);
    // Goose writes one report per file name, by extension (HTML, JSON, Markdown).
    let mut config = GooseConfiguration::default();
    config.report_file = phase
        .report_files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    let attack = GooseAttack::initialize_with_config(config)
        .map_err(|e| e.to_string())?
        .register_scenario(
            scenario!("webhooks")
                .register_transaction(transaction!(bind_source).set_on_start())
                .register_transaction(transaction!(send_webhook)),
        )
        .set_default(GooseDefault::Host, phase.host.as_str())
        .and_then(|a| a.set_default(GooseDefault::Users, users))
        .and_then(|a| a.set_default(GooseDefault::IncreaseRate, users.to_string().as_str()))
        .and_then(|a| {
            a.set_default(
                GooseDefault::RunTime,
                usize::try_from(phase.duration.as_secs().max(1)).unwrap_or(1),
            )
        })
        .and_then(|a| a.set_default(GooseDefault::ThrottleRequests, phase.rate.max(1)))
        .and_then(|a| {
            a.set_default(
                GooseDefault::CoordinatedOmissionMitigation,
                GooseCoordinatedOmissionMitigation::Average,
            )
        })
        .and_then(|a| a.set_default(GooseDefault::Quiet, 1))
        .and_then(|a| a.set_default(GooseDefault::NoTelnet, true))
        .and_then(|a| a.set_default(GooseDefault::NoWebSocket, true))
        .and_then(|a| a.set_default(GooseDefault::NoAutoStart, false))
        .map_err(|e| e.to_string())?;
    attack.execute().await.map_err(|e| e.to_string())?;
    let elapsed = state.started.elapsed();
    *STATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    let answers = std::mem::take(
        &mut *state
            .answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    Ok(PhaseResult { answers, elapsed })
}
