//! The stack model (IR): one typed, validated description of the stack, derived from a spec
//! that passed the checks. The emitters (CloudFormation template, handler crates) read only this.

pub mod capacity;
pub mod derive;
pub mod handlers;
pub mod names;

use crate::spec::{
    Cidr, Duration, Encoding, EventId, Lifecycle, ManagedRules, Rate, Scheme, Size, Spec,
    Thresholds,
};
use derive::Derived;
use names::Function;

/// The whole stack.
#[derive(Clone, Debug)]
pub struct Stack {
    /// Base of every name.
    pub name: String,
    /// The spec's own environment suffix (the template parameter's default).
    pub default_suffix: String,
    /// Default region.
    pub region: String,
    /// Deletion behaviour of stateful resources.
    pub lifecycle: Lifecycle,
    /// API Gateway stage name.
    pub stage: String,
    /// Providers, in name order.
    pub providers: Vec<ProviderModel>,
    /// API throttle and payload limit.
    pub api: Api,
    /// WAF per-IP rule.
    pub waf: Waf,
    /// Function sizing, in [`Function::ALL`] order.
    pub functions: [FunctionModel; 3],
    /// The processor's SQS event source.
    pub processor_source: SqsSource,
    /// The audit logger's stream event source.
    pub audit_source: StreamSource,
    /// Processing queue and DLQ.
    pub queues: Queues,
    /// Log retention and record lifetimes.
    pub retention: RetentionModel,
    /// Alert subscriptions and critical event types.
    pub alerts: AlertsModel,
    /// CloudWatch alarms.
    pub alarms: Vec<Alarm>,
    /// Optional custom domain.
    pub domain: Option<DomainModel>,
    /// The account's Lambda concurrency quota.
    pub account_limit: u32,
    /// The receiver's expected time per request (capacity planning only).
    pub receiver_expected_duration: Duration,
    /// The processor's expected time per message (capacity planning only).
    pub processor_expected_duration: Duration,
    /// The audit logger's expected time per stream record (capacity planning only).
    pub audit_expected_duration: Duration,
}

/// Where a notification URL names the environment: `https://hooks-{suffix}.example.com/...`.
pub const SUFFIX_PLACEHOLDER: &str = "{suffix}";

/// A provider as the stack serves it.
#[derive(Clone, Debug)]
pub struct ProviderModel {
    /// URL name.
    pub name: String,
    /// Signature scheme.
    pub scheme: Scheme,
    /// Replay tolerance for timestamped schemes.
    pub tolerance: Option<Duration>,
    /// Where the provider's event id is.
    pub event_id: EventId,
    /// Square's notification URL override, for the spec's own suffix (what `wh dev` and
    /// `wh send` sign with).
    pub notification_url: Option<String>,
    /// The same override as the template writes it: `{suffix}` as `${EnvironmentSuffix}`, so
    /// each environment of an ephemeral spec signs its own URL.
    pub notification_url_template: Option<String>,
    /// Generic HMAC parameters.
    pub hmac: Option<HmacParams>,
    /// The secret holding the signing key.
    pub secret: SecretSource,
}

impl ProviderModel {
    /// The provider's name in logical ids (`stripe` -> `Stripe`, `my-psp` -> `MyPsp`).
    pub fn title(&self) -> String {
        pascal(&self.name)
    }

    /// The provider's name in environment variables (`my-psp` -> `MY_PSP`).
    pub fn env_key(&self) -> String {
        self.name.to_ascii_uppercase().replace('-', "_")
    }
}

/// `my-psp` -> `MyPsp`.
pub fn pascal(s: &str) -> String {
    s.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// Generic HMAC-SHA256 parameters.
#[derive(Clone, Debug)]
pub struct HmacParams {
    /// Signature header.
    pub header: String,
    /// Signature encoding.
    pub encoding: Encoding,
    /// Text before the signature.
    pub prefix: String,
}

/// Where a provider's signing secret lives.
#[derive(Clone, Debug, PartialEq)]
pub enum SecretSource {
    /// The stack creates `<name>-<provider>-<suffix>`.
    Create,
    /// An existing secret.
    Existing(String),
}

/// API throttling and payload limit.
#[derive(Clone, Copy, Debug)]
pub struct Api {
    /// Steady rate.
    pub rate: Rate,
    /// Burst.
    pub burst: u32,
    /// Largest body.
    pub max_payload: Size,
    /// A typical body (capacity planning only).
    pub typical_payload: Size,
}

/// The WAF per-IP rule.
#[derive(Clone, Debug)]
pub struct Waf {
    /// The rate as written.
    pub rate: Rate,
    /// Evaluation window in seconds.
    pub window_secs: u64,
    /// Requests per window (rate x window).
    pub limit: u64,
    /// Exempt IPv4 networks.
    pub exempt_v4: Vec<Cidr>,
    /// Exempt IPv6 networks.
    pub exempt_v6: Vec<Cidr>,
    /// Managed rule groups, in spec order.
    pub managed: Vec<ManagedRules>,
}

impl Waf {
    /// The web ACL's capacity units.
    pub fn capacity(&self) -> u32 {
        let sets =
            usize::from(!self.exempt_v4.is_empty()) + usize::from(!self.exempt_v6.is_empty());
        derive::web_acl_capacity(sets, &self.managed)
    }
}

/// One function's sizing.
#[derive(Clone, Copy, Debug)]
pub struct FunctionModel {
    /// Which function.
    pub function: Function,
    /// Reserved concurrency.
    pub reserved: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Timeout in seconds.
    pub timeout_secs: u64,
}

/// The processor's SQS event source.
#[derive(Clone, Copy, Debug)]
pub struct SqsSource {
    /// Messages per batch.
    pub batch_size: u32,
    /// Batching window in seconds.
    pub batching_window_secs: u64,
    /// Derived maximum concurrency.
    pub max_concurrency: u32,
}

/// The audit logger's stream event source.
#[derive(Clone, Copy, Debug)]
pub struct StreamSource {
    /// Records per batch.
    pub batch_size: u32,
    /// Retries before the failure destination.
    pub max_retries: u32,
}

/// Processing queue and DLQ settings.
#[derive(Clone, Copy, Debug)]
pub struct Queues {
    /// Derived visibility timeout in seconds.
    pub visibility_secs: u64,
    /// Processing queue retention in seconds.
    pub retention_secs: u64,
    /// DLQ (and audit failure queue) retention in seconds.
    pub dlq_retention_secs: u64,
    /// Attempts before the DLQ.
    pub max_receive_count: u32,
}

/// Retention of logs and records.
#[derive(Clone, Copy, Debug)]
pub struct RetentionModel {
    /// Log retention in days.
    pub log_days: u64,
    /// Audit record lifetime in seconds.
    pub audit_records_secs: u64,
    /// Processed webhook lifetime in seconds.
    pub processed_items_secs: u64,
}

/// Alert subscriptions.
#[derive(Clone, Debug)]
pub struct AlertsModel {
    /// E-mail subscribers.
    pub emails: Vec<String>,
    /// Event types also published to the alert topic.
    pub critical_events: Vec<String>,
}

/// A custom domain.
#[derive(Clone, Debug)]
pub struct DomainModel {
    /// Domain name.
    pub name: String,
    /// Regional ACM certificate.
    pub certificate_arn: String,
}

/// A CloudWatch alarm on the alert topic.
#[derive(Clone, Debug)]
pub struct Alarm {
    /// Name part and logical-id seed (`dlq-depth`).
    pub slug: String,
    /// What it means when it fires.
    pub description: String,
    /// What it watches.
    pub metric: AlarmMetric,
    /// Fires at or above this value.
    pub threshold: u64,
    /// Period in seconds.
    pub period_secs: u64,
}

/// What an alarm watches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AlarmMetric {
    /// Visible messages in the DLQ.
    DlqDepth,
    /// Visible messages in the audit failure queue.
    AuditFailureDepth,
    /// Visible messages in the alert failure queue.
    AlertFailureDepth,
    /// Errors of a function.
    FunctionErrors(Function),
    /// Throttles of a function.
    FunctionThrottles(Function),
    /// API 5XX answers.
    Api5xx,
    /// The audit stream's iterator age, in milliseconds.
    StreamIteratorAge,
    /// Requests WAF blocked.
    WafBlocked,
    /// Deliveries the receiver rejected for a bad signature.
    SignatureFailures,
}

/// The stack's alarms for `t`.
pub fn alarms(t: &Thresholds) -> Vec<Alarm> {
    let period_secs = t.period.whole_secs().unwrap_or(300);
    let alarm = |slug: String, description: String, metric, threshold: u64| Alarm {
        slug,
        description,
        metric,
        threshold,
        period_secs,
    };
    let mut out = vec![
        alarm(
            "dlq-depth".into(),
            "Webhooks failed every attempt and wait in the DLQ (wh redrive)".into(),
            AlarmMetric::DlqDepth,
            u64::from(*t.dlq_depth),
        ),
        alarm(
            "audit-failures-depth".into(),
            "Stream batches the audit logger gave up on".into(),
            AlarmMetric::AuditFailureDepth,
            1,
        ),
        alarm(
            "alert-failures-depth".into(),
            "Alerts SNS gave up delivering (50 e-mail attempts over about 6 hours); no action: the alert topic is what failed. wh status shows it".into(),
            AlarmMetric::AlertFailureDepth,
            1,
        ),
    ];
    for f in Function::ALL {
        out.push(alarm(
            format!("{}-errors", f.slug()),
            format!("The {} function is failing", f.slug()),
            AlarmMetric::FunctionErrors(f),
            u64::from(*t.function_errors),
        ));
        out.push(alarm(
            format!("{}-throttles", f.slug()),
            format!(
                "The {} function is throttled at its reserved concurrency",
                f.slug()
            ),
            AlarmMetric::FunctionThrottles(f),
            u64::from(*t.function_throttles),
        ));
    }
    out.push(alarm(
        "api-5xx".into(),
        "The webhook API answers 5XX: providers will retry".into(),
        AlarmMetric::Api5xx,
        u64::from(*t.api_5xx),
    ));
    out.push(alarm(
        "stream-iterator-age".into(),
        "Audit records lag behind the webhook table".into(),
        AlarmMetric::StreamIteratorAge,
        t.iterator_age.as_millis(),
    ));
    out.push(alarm(
        "waf-blocked".into(),
        "WAF is blocking requests (per-IP limit or managed rules)".into(),
        AlarmMetric::WafBlocked,
        u64::from(*t.waf_blocked),
    ));
    out.push(alarm(
        "signature-failures".into(),
        "Deliveries fail signature verification: a wrong or rotated secret, or an attack".into(),
        AlarmMetric::SignatureFailures,
        u64::from(*t.signature_failures),
    ));
    out
}

/// The slugs of every alarm, for the naming check.
pub fn alarm_slugs() -> Vec<String> {
    alarms(&Thresholds::default())
        .into_iter()
        .map(|a| a.slug)
        .collect()
}

/// Builds the stack model from a spec that passed [`crate::checks::check`].
pub fn lower(spec: &Spec) -> Stack {
    let limits = &spec.limits;
    let c = &spec.concurrency;
    let window_secs = limits.per_ip_window.whole_secs().unwrap_or(60);
    let (v4, v6): (Vec<Cidr>, Vec<Cidr>) = limits
        .exempt_cidrs
        .iter()
        .map(|c| c.value)
        .partition(|c| c.addr.is_ipv4());
    let function = |function, reserved: u32, memory: Size, timeout: Duration| FunctionModel {
        function,
        reserved,
        memory_mib: memory.whole_mib().unwrap_or(256),
        timeout_secs: timeout.secs_ceil(),
    };
    let processor = &c.processor;
    Stack {
        name: spec.name.value.clone(),
        default_suffix: spec.suffix.value.clone(),
        region: spec.region.value.clone(),
        lifecycle: spec.lifecycle.value,
        stage: spec.stage.value.clone(),
        providers: spec
            .providers
            .iter()
            .map(|(name, p)| ProviderModel {
                name: name.value.clone(),
                scheme: p.scheme.value,
                tolerance: p.scheme.signs_timestamp().then(|| {
                    p.tolerance
                        .as_ref()
                        .map_or(Duration::from_secs(300), |t| t.value)
                }),
                event_id: p
                    .event_id
                    .as_ref()
                    .map(|e| e.value.clone())
                    .or_else(|| p.scheme.default_event_id())
                    .unwrap_or(EventId::JsonPointer("/id".into())),
                notification_url: p
                    .notification_url
                    .as_ref()
                    .map(|u| u.value.replace(SUFFIX_PLACEHOLDER, &spec.suffix.value)),
                notification_url_template: p
                    .notification_url
                    .as_ref()
                    .map(|u| u.value.replace(SUFFIX_PLACEHOLDER, "${EnvironmentSuffix}")),
                hmac: (p.scheme.value == Scheme::HmacSha256).then(|| HmacParams {
                    header: p
                        .header
                        .as_ref()
                        .map(|h| h.value.clone())
                        .unwrap_or_default(),
                    encoding: p.encoding.as_ref().map_or(Encoding::Hex, |e| e.value),
                    prefix: p
                        .prefix
                        .as_ref()
                        .map(|x| x.value.clone())
                        .unwrap_or_default(),
                }),
                secret: p.secret_arn.as_ref().map_or(SecretSource::Create, |a| {
                    SecretSource::Existing(a.value.clone())
                }),
            })
            .collect(),
        api: Api {
            rate: *limits.api_rate,
            burst: *limits.api_burst,
            max_payload: *limits.max_payload,
            typical_payload: *limits.typical_payload,
        },
        waf: Waf {
            rate: *limits.per_ip_rate,
            window_secs,
            limit: derive::waf_limit(*limits.per_ip_rate, Duration::from_secs(window_secs))
                .unwrap_or(0),
            exempt_v4: v4,
            exempt_v6: v6,
            managed: spec.waf.managed_rules.iter().map(|m| m.value).collect(),
        },
        functions: [
            function(
                Function::Receiver,
                *c.receiver.reserved,
                *c.receiver.memory,
                *c.receiver.timeout,
            ),
            function(
                Function::Processor,
                *processor.reserved,
                *processor.memory,
                *processor.timeout,
            ),
            function(
                Function::Audit,
                *c.audit.reserved,
                *c.audit.memory,
                *c.audit.timeout,
            ),
        ],
        processor_source: SqsSource {
            batch_size: *processor.batch_size,
            batching_window_secs: processor.batching_window.secs_ceil(),
            max_concurrency: derive::event_source_max_concurrency(*processor.reserved),
        },
        audit_source: StreamSource {
            batch_size: *c.audit.batch_size,
            max_retries: *c.audit.max_retries,
        },
        queues: Queues {
            visibility_secs: derive::visibility_timeout(
                *processor.timeout,
                *processor.batching_window,
            )
            .secs_ceil(),
            retention_secs: spec.retention.queue.secs_ceil(),
            dlq_retention_secs: spec.retention.dlq.secs_ceil(),
            max_receive_count: *processor.max_receive_count,
        },
        retention: RetentionModel {
            log_days: spec.retention.logs.whole_days().unwrap_or(30),
            audit_records_secs: spec.retention.audit_records.secs_ceil(),
            processed_items_secs: spec.retention.processed_items.secs_ceil(),
        },
        alerts: AlertsModel {
            emails: spec.alerts.emails.iter().map(|e| e.value.clone()).collect(),
            critical_events: spec
                .alerts
                .critical_events
                .iter()
                .map(|e| e.value.clone())
                .collect(),
        },
        alarms: alarms(&spec.alerts.thresholds),
        domain: spec.domain.as_ref().map(|d| DomainModel {
            name: d.name.value.clone(),
            certificate_arn: d.certificate_arn.value.clone(),
        }),
        account_limit: *c.account_limit,
        receiver_expected_duration: *c.receiver.expected_duration,
        processor_expected_duration: *processor.expected_duration,
        audit_expected_duration: *c.audit.expected_duration,
    }
}

impl Stack {
    /// One function's model.
    pub fn function(&self, f: Function) -> &FunctionModel {
        match f {
            Function::Receiver => &self.functions[0],
            Function::Processor => &self.functions[1],
            Function::Audit => &self.functions[2],
        }
    }

    /// What the capacity model is fed.
    pub fn load(&self) -> capacity::Load {
        capacity::Load {
            rate: self.api.rate.per_second(),
            burst: self.api.burst,
            typical_payload: self.api.typical_payload.bytes(),
            max_payload: self.api.max_payload.bytes(),
            receiver_secs: self.receiver_expected_duration.as_secs_f64(),
            processor_secs: self.processor_expected_duration.as_secs_f64(),
            audit_secs: self.audit_expected_duration.as_secs_f64(),
        }
    }

    /// Unreserved concurrency the account keeps.
    pub fn unreserved_left(&self) -> i64 {
        derive::unreserved_left(self.account_limit, &self.functions.map(|f| f.reserved))
    }

    /// Whether stateful resources outlive the stack.
    pub fn retains(&self) -> bool {
        self.lifecycle == Lifecycle::Retain
    }

    /// The values `wh compile` derived, with the rule behind each.
    pub fn derived(&self) -> Vec<Derived> {
        let processor = self.function(Function::Processor);
        vec![
            Derived {
                what: "WAF per-IP limit",
                value: format!(
                    "{} requests per {} s window",
                    self.waf.limit, self.waf.window_secs
                ),
                rule: format!(
                    "{} x {} s; AWS counts requests per evaluation window, not per second",
                    self.waf.rate, self.waf.window_secs
                ),
            },
            Derived {
                what: "queue visibility timeout",
                value: format!("{} s", self.queues.visibility_secs),
                rule: format!(
                    "6 x processor timeout {} s + batching window {} s (AWS's advice for Lambda event sources)",
                    processor.timeout_secs, self.processor_source.batching_window_secs
                ),
            },
            Derived {
                what: "unreserved concurrency left",
                value: format!("{} of {}", self.unreserved_left(), self.account_limit),
                rule: format!(
                    "account limit - reserved ({}); AWS requires at least {}",
                    self.functions.map(|f| f.reserved.to_string()).join(" + "),
                    derive::MIN_UNRESERVED
                ),
            },
            Derived {
                what: "web ACL capacity",
                value: format!(
                    "{} of {} WCU",
                    self.waf.capacity(),
                    derive::WEB_ACL_CAPACITY
                ),
                rule: format!(
                    "per-IP rule 2 + 1 per exempt IP set, managed groups: {}",
                    if self.waf.managed.is_empty() {
                        "none".to_owned()
                    } else {
                        self.waf
                            .managed
                            .iter()
                            .map(|m| format!("{} {}", m.as_str(), m.capacity()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            },
            Derived {
                what: "event source max concurrency",
                value: self.processor_source.max_concurrency.to_string(),
                rule:
                    "processor reserved concurrency (at least 2), so receives are never throttled"
                        .into(),
            },
        ]
    }
}
