//! The spec file (`specs/*.yaml`): its types, its JSON Schema and its loader.
//!
//! These types mirror the YAML one to one. They hold what the user wrote (with positions), not
//! what the stack needs: the checks in [`crate::checks`] judge them and [`crate::ir`] derives
//! the stack model from them.

mod load;
mod loc;
pub mod units;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use load::{LoadError, load, parse};
pub use loc::{Loc, Pos};
pub use units::{Cidr, Duration, Rate, Size};

/// One webhook-ingestion stack for one environment.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Base of every resource name: lowercase letters, digits and hyphens, starting with a letter.
    pub name: Loc<String>,
    /// The environment suffix every physical name ends with (`prod`, `dev`, `pr-42`).
    pub suffix: Loc<String>,
    /// The AWS region the stack is deployed to by default (`us-east-1`).
    pub region: Loc<String>,
    /// `retain`: stateful resources survive stack deletion (production). `ephemeral`: everything
    /// is deleted with the stack (test and pull-request environments).
    pub lifecycle: Loc<Lifecycle>,
    /// The API Gateway stage name (per API, so it carries no suffix).
    #[serde(default = "default_stage")]
    #[schemars(default = "default_stage_name")]
    pub stage: Loc<String>,
    /// Webhook senders, keyed by the name used in the URL: `POST /webhook/{provider}`.
    pub providers: Loc<BTreeMap<Loc<String>, Provider>>,
    /// Request limits enforced by API Gateway, WAF and the receiver.
    pub limits: Loc<Limits>,
    /// Lambda concurrency, memory and timeouts, and the account's concurrency quota.
    pub concurrency: Loc<Concurrency>,
    /// How long each kind of data is kept.
    #[serde(default)]
    pub retention: Loc<Retention>,
    /// Who is told when something goes wrong, and when.
    #[serde(default)]
    pub alerts: Loc<Alerts>,
    /// WAF protections besides the per-IP rule (in `limits`).
    #[serde(default)]
    pub waf: Loc<WafSpec>,
    /// A custom domain for the API (`retain` specs only): providers keep one stable URL.
    #[serde(default)]
    pub domain: Option<Loc<Domain>>,
}

fn default_stage() -> Loc<String> {
    Loc::unplaced(default_stage_name())
}

fn default_stage_name() -> String {
    "live".to_owned()
}

/// What happens to stateful resources when the stack is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Lifecycle {
    /// Tables, queues, key, secrets and logs survive stack deletion and replacement.
    Retain,
    /// Everything is deleted with the stack.
    Ephemeral,
}

/// A webhook sender and how its deliveries are authenticated.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// The signature scheme the provider signs deliveries with.
    pub scheme: Loc<Scheme>,
    /// How far a signed timestamp may be from now, either way (Stripe and Standard Webhooks
    /// only; default 5m).
    #[serde(default)]
    pub tolerance: Option<Loc<Duration>>,
    /// Where the provider's own event id is found, for idempotency. Defaults per scheme (see
    /// docs/spec.md); required for `hmac-sha256`.
    #[serde(default)]
    pub event_id: Option<Loc<EventId>>,
    /// Square only: the notification URL Square signs. Default: derived from the deployed API
    /// (or the custom domain) per environment.
    #[serde(default)]
    pub notification_url: Option<Loc<String>>,
    /// `hmac-sha256` only: the header carrying the signature.
    #[serde(default)]
    pub header: Option<Loc<String>>,
    /// `hmac-sha256` only: how the signature is encoded.
    #[serde(default)]
    pub encoding: Option<Loc<Encoding>>,
    /// `hmac-sha256` only: text before the encoded signature in the header (`sha256=`).
    #[serde(default)]
    pub prefix: Option<Loc<String>>,
    /// Use this existing Secrets Manager secret instead of creating one for the provider.
    #[serde(default)]
    pub secret_arn: Option<Loc<String>>,
}

/// A provider's signature scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// `Stripe-Signature: t=...,v1=...` over `t.body`.
    Stripe,
    /// Standard Webhooks / Svix: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    StandardWebhooks,
    /// GitHub: `X-Hub-Signature-256: sha256=<hex>`.
    Github,
    /// Shopify: `X-Shopify-Hmac-Sha256: <base64>`.
    Shopify,
    /// Square: `x-square-hmacsha256-signature` over notification URL + body.
    Square,
    /// Any HMAC-SHA256 of the body, with header, encoding and prefix from the spec.
    HmacSha256,
}

impl Scheme {
    /// The scheme's name as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Stripe => "stripe",
            Scheme::StandardWebhooks => "standard-webhooks",
            Scheme::Github => "github",
            Scheme::Shopify => "shopify",
            Scheme::Square => "square",
            Scheme::HmacSha256 => "hmac-sha256",
        }
    }

    /// Whether the scheme signs a timestamp (and so has a replay tolerance).
    pub fn signs_timestamp(self) -> bool {
        matches!(self, Scheme::Stripe | Scheme::StandardWebhooks)
    }

    /// Where the provider puts its event id when the spec does not say.
    pub fn default_event_id(self) -> Option<EventId> {
        match self {
            Scheme::Stripe => Some(EventId::JsonPointer("/id".into())),
            Scheme::StandardWebhooks => Some(EventId::Header("webhook-id".into())),
            Scheme::Github => Some(EventId::Header("X-GitHub-Delivery".into())),
            // One event can reach a shop's subscriptions as several webhooks sharing
            // `X-Shopify-Event-Id` ("a unique ID shared across all deliveries produced by the
            // same merchant action"): `orders/create` and `orders/paid` of one checkout are two
            // webhooks, two subscriptions to one topic are duplicates. Topic plus event id tells
            // them apart and dedups a retry of either
            // (<https://shopify.dev/docs/apps/build/webhooks/delivery-structure#headers>,
            // <https://shopify.dev/docs/apps/build/webhooks/ignore-duplicates>).
            Scheme::Shopify => Some(EventId::Headers(vec![
                "X-Shopify-Topic".into(),
                "X-Shopify-Event-Id".into(),
            ])),
            Scheme::Square => Some(EventId::JsonPointer("/event_id".into())),
            Scheme::HmacSha256 => None,
        }
    }
}

/// Where a provider's event id is read from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventId {
    /// A request header (`webhook-id`).
    Header(String),
    /// Several request headers, every one required, their values joined with `:` in the
    /// order written (`[X-Shopify-Topic, X-Shopify-Event-Id]`).
    Headers(Vec<String>),
    /// An RFC 6901 JSON pointer into the body (`/id`).
    JsonPointer(String),
}

/// How a generic HMAC signature is encoded in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Lowercase or uppercase hexadecimal.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// Request limits.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// API Gateway stage throttle, steady rate (`1000/s`).
    pub api_rate: Loc<Rate>,
    /// API Gateway stage throttle, burst (token bucket size).
    pub api_burst: Loc<u32>,
    /// WAF per-IP rate (`10/s`); the rule's limit is this rate times the window.
    pub per_ip_rate: Loc<Rate>,
    /// WAF evaluation window: 1m, 2m, 5m or 10m.
    pub per_ip_window: Loc<Duration>,
    /// Source networks the per-IP rule does not apply to (load-test runners, providers' ranges).
    #[serde(default)]
    pub exempt_cidrs: Vec<Loc<Cidr>>,
    /// Largest accepted webhook body (`256KiB`); larger ones are answered 413.
    pub max_payload: Loc<Size>,
    /// A typical webhook body, for the capacity model's write units (default 4KiB: Stripe,
    /// GitHub and Shopify events are mostly 2 to 8 KiB).
    #[serde(default = "default_typical_payload")]
    #[schemars(default = "default_typical_payload_value")]
    pub typical_payload: Loc<Size>,
}

fn default_typical_payload() -> Loc<Size> {
    Loc::unplaced(default_typical_payload_value())
}

fn default_typical_payload_value() -> Size {
    Size::from_bytes(4 * 1024)
}

/// Lambda concurrency and sizing.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Concurrency {
    /// The account's regional Lambda concurrency quota (default 1000).
    #[serde(default = "default_account_limit")]
    #[schemars(default = "default_account_limit_value")]
    pub account_limit: Loc<u32>,
    /// The receiver behind API Gateway.
    pub receiver: Loc<Receiver>,
    /// The queue consumer.
    pub processor: Loc<Processor>,
    /// The DynamoDB stream consumer that writes audit records.
    pub audit: Loc<Audit>,
}

fn default_account_limit() -> Loc<u32> {
    Loc::unplaced(default_account_limit_value())
}

fn default_account_limit_value() -> u32 {
    1000
}

fn default_memory() -> Loc<Size> {
    Loc::unplaced(Size::from_mib(256))
}

fn default_short_timeout() -> Loc<Duration> {
    Loc::unplaced(Duration::from_secs(10))
}

fn default_long_timeout() -> Loc<Duration> {
    Loc::unplaced(Duration::from_secs(30))
}

/// The receiver function.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    /// Reserved concurrent executions.
    pub reserved: Loc<u32>,
    /// Memory (`256MiB`; 128MiB to 10240MiB). Default 256MiB.
    #[serde(default = "default_memory")]
    pub memory: Loc<Size>,
    /// Timeout (1s to 29s: API Gateway's integration limit). Default 10s.
    #[serde(default = "default_short_timeout")]
    pub timeout: Loc<Duration>,
    /// Expected time per request, for the capacity check (Little's law).
    pub expected_duration: Loc<Duration>,
}

/// The processor function.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Processor {
    /// Reserved concurrent executions (at least 2: the SQS event source's minimum).
    pub reserved: Loc<u32>,
    /// Memory. Default 256MiB.
    #[serde(default = "default_memory")]
    pub memory: Loc<Size>,
    /// Timeout (1s to 15m). Default 30s.
    #[serde(default = "default_long_timeout")]
    pub timeout: Loc<Duration>,
    /// Messages per invocation (1 to 10, or up to 10000 with a batching window).
    pub batch_size: Loc<u32>,
    /// How long to gather a batch (0s to 5m).
    pub batching_window: Loc<Duration>,
    /// Receives before the queue moves a message to the DLQ (5 to 1000). Default 5: AWS's
    /// guidance for a queue behind a Lambda function is at least 5, so a whole batch that fails
    /// once (a timeout, an init error) or is throttled does not send good messages to the DLQ.
    #[serde(default = "default_max_receive_count")]
    #[schemars(default = "default_max_receive_count_value")]
    pub max_receive_count: Loc<u32>,
    /// Expected time per message, for the capacity model (default 40ms: four AWS calls of
    /// about 10ms each, GetItem, PutEvents, PutItem and UpdateItem).
    #[serde(default = "default_processor_duration")]
    #[schemars(default = "default_processor_duration_value")]
    pub expected_duration: Loc<Duration>,
}

fn default_max_receive_count() -> Loc<u32> {
    Loc::unplaced(default_max_receive_count_value())
}

fn default_max_receive_count_value() -> u32 {
    5
}

fn default_processor_duration() -> Loc<Duration> {
    Loc::unplaced(default_processor_duration_value())
}

fn default_processor_duration_value() -> Duration {
    Duration::from_millis(40)
}

/// The audit logger function.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Audit {
    /// Reserved concurrent executions.
    pub reserved: Loc<u32>,
    /// Memory. Default 256MiB.
    #[serde(default = "default_memory")]
    pub memory: Loc<Size>,
    /// Timeout (1s to 15m). Default 30s.
    #[serde(default = "default_long_timeout")]
    pub timeout: Loc<Duration>,
    /// Stream records per invocation (1 to 10000). Default 100.
    #[serde(default = "default_audit_batch")]
    pub batch_size: Loc<u32>,
    /// Retries of a failing batch before it goes to the failure queue (0 to 10000). Default 3.
    #[serde(default = "default_audit_retries")]
    pub max_retries: Loc<u32>,
    /// Expected time per stream record, for the capacity model (default 10ms: one PutItem).
    #[serde(default = "default_audit_duration")]
    #[schemars(default = "default_audit_duration_value")]
    pub expected_duration: Loc<Duration>,
}

fn default_audit_duration() -> Loc<Duration> {
    Loc::unplaced(default_audit_duration_value())
}

fn default_audit_duration_value() -> Duration {
    Duration::from_millis(10)
}

fn default_audit_batch() -> Loc<u32> {
    Loc::unplaced(100)
}

fn default_audit_retries() -> Loc<u32> {
    Loc::unplaced(3)
}

/// How long data is kept.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Processing-queue message retention (60s to 14d). Default 4d.
    #[serde(default = "default_queue_retention")]
    pub queue: Loc<Duration>,
    /// Dead-letter-queue retention (60s to 14d, longer than `queue`). Default 14d.
    #[serde(default = "default_dlq_retention")]
    pub dlq: Loc<Duration>,
    /// Log retention: one of CloudWatch Logs' values (1d, 3d, 5d, 7d, 14d, 30d, ...). Default 30d.
    #[serde(default = "default_log_retention")]
    pub logs: Loc<Duration>,
    /// Audit records' lifetime in the audit table (DynamoDB TTL). Default 365d.
    #[serde(default = "default_audit_retention")]
    pub audit_records: Loc<Duration>,
    /// Processed webhooks' lifetime in the webhook table (DynamoDB TTL). Default 90d.
    #[serde(default = "default_processed_retention")]
    pub processed_items: Loc<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            queue: default_queue_retention(),
            dlq: default_dlq_retention(),
            logs: default_log_retention(),
            audit_records: default_audit_retention(),
            processed_items: default_processed_retention(),
        }
    }
}

const DAY: u64 = 86_400;

fn default_queue_retention() -> Loc<Duration> {
    Loc::unplaced(Duration::from_secs(4 * DAY))
}

fn default_dlq_retention() -> Loc<Duration> {
    Loc::unplaced(Duration::from_secs(14 * DAY))
}

fn default_log_retention() -> Loc<Duration> {
    Loc::unplaced(Duration::from_secs(30 * DAY))
}

fn default_audit_retention() -> Loc<Duration> {
    Loc::unplaced(Duration::from_secs(365 * DAY))
}

fn default_processed_retention() -> Loc<Duration> {
    Loc::unplaced(Duration::from_secs(90 * DAY))
}

/// Alert subscriptions and alarm thresholds.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    /// E-mail addresses subscribed to the alert topic.
    #[serde(default)]
    pub emails: Vec<Loc<String>>,
    /// Event types the processor also publishes to the alert topic (disputes, failed payments).
    #[serde(default)]
    pub critical_events: Vec<Loc<String>>,
    /// Alarm thresholds.
    #[serde(default)]
    pub thresholds: Loc<Thresholds>,
}

/// When each alarm fires. Counts are per alarm period.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// The alarm period: 1m or a multiple of it. Default 5m.
    #[serde(default = "default_period")]
    pub period: Loc<Duration>,
    /// Messages visible in the dead-letter queue. Default 1.
    #[serde(default = "one")]
    pub dlq_depth: Loc<u32>,
    /// Errors of any one function. Default 1.
    #[serde(default = "one")]
    pub function_errors: Loc<u32>,
    /// Throttled invocations of any one function. Default 1.
    #[serde(default = "one")]
    pub function_throttles: Loc<u32>,
    /// API Gateway 5XX answers. Default 1.
    #[serde(default = "one")]
    pub api_5xx: Loc<u32>,
    /// Age of the oldest unprocessed DynamoDB stream record. Default 5m.
    #[serde(default = "default_iterator_age")]
    pub iterator_age: Loc<Duration>,
    /// Requests blocked by WAF. Default 100.
    #[serde(default = "default_waf_blocked")]
    pub waf_blocked: Loc<u32>,
    /// Deliveries rejected for a bad signature. Default 10.
    #[serde(default = "default_signature_failures")]
    pub signature_failures: Loc<u32>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            period: default_period(),
            dlq_depth: one(),
            function_errors: one(),
            function_throttles: one(),
            api_5xx: one(),
            iterator_age: default_iterator_age(),
            waf_blocked: default_waf_blocked(),
            signature_failures: default_signature_failures(),
        }
    }
}

fn default_period() -> Loc<Duration> {
    Loc::unplaced(Duration::from_secs(300))
}

fn one() -> Loc<u32> {
    Loc::unplaced(1)
}

fn default_iterator_age() -> Loc<Duration> {
    Loc::unplaced(Duration::from_secs(300))
}

fn default_waf_blocked() -> Loc<u32> {
    Loc::unplaced(100)
}

fn default_signature_failures() -> Loc<u32> {
    Loc::unplaced(10)
}

/// WAF protections besides the per-IP rule.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WafSpec {
    /// AWS managed rule groups in front of the API (default: both). An empty list turns them off.
    #[serde(default = "default_managed_rules")]
    #[schemars(default = "default_managed_rule_values")]
    pub managed_rules: Vec<Loc<ManagedRules>>,
}

impl Default for WafSpec {
    fn default() -> Self {
        WafSpec {
            managed_rules: default_managed_rules(),
        }
    }
}

fn default_managed_rules() -> Vec<Loc<ManagedRules>> {
    default_managed_rule_values()
        .into_iter()
        .map(Loc::unplaced)
        .collect()
}

fn default_managed_rule_values() -> Vec<ManagedRules> {
    vec![ManagedRules::Common, ManagedRules::KnownBadInputs]
}

/// An AWS managed rule group.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ManagedRules {
    /// AWSManagedRulesCommonRuleSet (OWASP-style protections), with the overrides webhook
    /// bodies need (see docs/template.md).
    Common,
    /// AWSManagedRulesKnownBadInputsRuleSet (Log4j, exploit paths).
    KnownBadInputs,
}

impl ManagedRules {
    /// The group's name at AWS.
    pub fn aws_name(self) -> &'static str {
        match self {
            ManagedRules::Common => "AWSManagedRulesCommonRuleSet",
            ManagedRules::KnownBadInputs => "AWSManagedRulesKnownBadInputsRuleSet",
        }
    }

    /// The spec's name for the group.
    pub fn as_str(self) -> &'static str {
        match self {
            ManagedRules::Common => "common",
            ManagedRules::KnownBadInputs => "known-bad-inputs",
        }
    }

    /// Web ACL capacity units the group consumes, as AWS publishes them.
    pub fn capacity(self) -> u32 {
        match self {
            ManagedRules::Common => 700,
            ManagedRules::KnownBadInputs => 200,
        }
    }
}

/// A custom domain for the API.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    /// The domain name providers post to (`hooks.example.com`).
    pub name: Loc<String>,
    /// ARN of an ACM certificate for it, in the stack's region.
    pub certificate_arn: Loc<String>,
}

/// The JSON Schema of the spec, as committed in `specs/schema.json`.
pub fn json_schema() -> serde_json::Value {
    // Draft 7 because it is what editors' YAML language servers understand best.
    let schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Spec>();
    schema.to_value()
}
