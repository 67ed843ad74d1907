//! The rules a spec must satisfy before anything is generated.
//!
//! Each file holds one family of rules; each rule reports a [`Finding`] at the position of the
//! value it judges, says what is wrong and what is allowed, and all findings of a run are
//! reported together. Derived values come from [`crate::ir::derive`], the same functions the
//! stack model uses, so what is checked is what is emitted.

mod alerts;
mod capacity;
mod concurrency;
mod limits;
mod providers;
mod retention;
mod stack;
mod waf;

use std::fmt;
use std::path::Path;

use crate::spec::{Loc, Pos, Spec};

/// One broken rule, placed in the spec.
#[derive(Debug)]
pub struct Finding {
    /// Where the offending value is (or the section that would hold a defaulted one).
    pub at: Pos,
    /// The field's path in the spec (`concurrency.receiver.reserved`).
    pub path: String,
    /// What is wrong, and what is allowed.
    pub problem: Problem,
}

impl Finding {
    /// Whether the finding is only a warning: the spec compiles, and the stack may still hold
    /// (an adjustable quota the account may have raised, or work that only lags).
    pub fn is_warning(&self) -> bool {
        matches!(&self.problem, Problem::Capacity(f) if f.verdict() == crate::ir::capacity::Verdict::Warning)
    }

    /// Renders the finding as `file:line:column: error: path: problem` (or `warning:`).
    pub fn display<'a>(&'a self, file: &'a Path) -> impl fmt::Display + 'a {
        DisplayFinding {
            finding: self,
            file,
        }
    }
}

struct DisplayFinding<'a> {
    finding: &'a Finding,
    file: &'a Path,
}

impl fmt::Display for DisplayFinding<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Finding { at, path, problem } = self.finding;
        let severity = if self.finding.is_warning() {
            "warning"
        } else {
            "error"
        };
        write!(
            f,
            "{}:{at}: {severity}: {path}: {problem}",
            self.file.display()
        )
    }
}

/// Everything a spec can get wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Problem {
    /// The stack name is not usable in AWS names.
    #[error(
        "`{0}` is not a valid name; use lowercase letters, digits and inner hyphens, starting with a letter"
    )]
    BadName(String),
    /// The suffix does not fit the template's `EnvironmentSuffix` parameter.
    #[error("`{0}` is not a valid environment suffix; use 1 to {max} lowercase letters, digits and inner hyphens", max = crate::ir::names::MAX_SUFFIX_LEN)]
    BadSuffix(String),
    /// The region is not an AWS region name.
    #[error("`{0}` is not an AWS region name; write one like us-east-1 or eu-west-2")]
    BadRegion(String),
    /// The stage name is not allowed by API Gateway.
    #[error(
        "`{0}` is not a valid API Gateway stage name; use 1 to 128 letters, digits, hyphens and underscores"
    )]
    BadStage(String),
    /// A physical name breaks its service's rule.
    #[error("the {kind} name `{name}` {detail} (checked with the longest suffix the template accepts, {max} characters); shorten `name`", max = crate::ir::names::MAX_SUFFIX_LEN)]
    BadPhysicalName {
        /// The service's resource kind.
        kind: &'static str,
        /// The name, rendered with the longest suffix.
        name: String,
        /// The rule it breaks.
        detail: String,
    },
    /// A custom domain on an ephemeral stack.
    #[error(
        "a custom domain is for `retain` specs only: it is the one name without the suffix, so two ephemeral environments would fight over it"
    )]
    DomainNeedsRetain,
    /// The custom domain name is not a DNS name.
    #[error("`{0}` is not a domain name; write a lowercase DNS name such as hooks.example.com")]
    BadDomain(String),
    /// The certificate ARN is malformed or in another region.
    #[error(
        "`{value}` is not an ACM certificate ARN in {region}; a regional API needs a certificate in its own region: arn:aws:acm:{region}:<account>:certificate/<id>"
    )]
    BadCertificateArn {
        /// What was written.
        value: String,
        /// The stack's region.
        region: String,
    },
    /// No providers.
    #[error("no providers; name at least one, e.g. `stripe: {{ scheme: stripe }}`")]
    NoProviders,
    /// A provider name unusable in URLs and secret names.
    #[error(
        "`{0}` is not a valid provider name; use 1 to 32 lowercase letters, digits and inner hyphens, starting with a letter"
    )]
    BadProviderName(String),
    /// Two provider names that map to the same logical id.
    #[error("`{0}` and `{1}` map to the same CloudFormation logical id; rename one")]
    ProviderNameClash(String, String),
    /// A field that the provider's scheme does not use.
    #[error("`{field}` does not apply to the {scheme} scheme; it is only for {only_for}")]
    FieldNotForScheme {
        /// The field.
        field: &'static str,
        /// The provider's scheme.
        scheme: &'static str,
        /// The schemes it is for.
        only_for: &'static str,
    },
    /// A field the scheme needs.
    #[error("the {scheme} scheme needs `{field}`: {why}")]
    MissingForScheme {
        /// The field.
        field: &'static str,
        /// The provider's scheme.
        scheme: &'static str,
        /// What it is for.
        why: &'static str,
    },
    /// A timestamp tolerance out of range.
    #[error("a tolerance of {0} is outside 1s to 1h; providers document 5m")]
    ToleranceRange(String),
    /// An event-id pointer that is not a JSON pointer.
    #[error(
        "`{0}` is not a JSON pointer; write one starting with `/`, such as /id or /data/object/id"
    )]
    BadJsonPointer(String),
    /// An event id made of no headers.
    #[error(
        "an event id needs at least one header; write headers: [X-Shopify-Topic, X-Shopify-Event-Id], or header: <name>"
    )]
    NoEventIdHeaders,
    /// A header name with characters HTTP does not allow.
    #[error("`{0}` is not an HTTP header name; use letters, digits and hyphens")]
    BadHeader(String),
    /// A secret ARN that is not one.
    #[error(
        "`{0}` is not a Secrets Manager secret ARN; write arn:aws:secretsmanager:<region>:<account>:secret:<name>"
    )]
    BadSecretArn(String),
    /// A notification URL that is not https.
    #[error(
        "`{0}` is not an https URL; Square signs the exact https notification URL it posts to (`{{suffix}}` may stand for the environment's suffix)"
    )]
    BadNotificationUrl(String),
    /// One notification URL for every environment of an ephemeral spec.
    #[error(
        "`{0}` is one URL for every suffix this ephemeral spec deploys under, but Square signs the URL it posts to, so every other environment would refuse its deliveries: write `{{suffix}}` where the environments' URLs differ (https://hooks-{{suffix}}.example.com/webhook/square), or leave it out and the receiver uses the URL it was called at"
    )]
    SharedNotificationUrl(String),
    /// Reservations leave less than AWS's unreserved minimum.
    #[error("reserving {total} (receiver {receiver} + processor {processor} + audit {audit}) leaves {left} of the account's {account} unreserved; AWS keeps at least {min} unreserved, so reservations may total at most {allowed}", min = crate::ir::derive::MIN_UNRESERVED)]
    UnreservedBelowMinimum {
        /// Sum of reservations.
        total: u64,
        /// Receiver reservation.
        receiver: u32,
        /// Processor reservation.
        processor: u32,
        /// Audit reservation.
        audit: u32,
        /// The account's quota.
        account: u32,
        /// What would be left.
        left: i64,
        /// The largest allowed total.
        allowed: i64,
    },
    /// An account quota too small to reserve anything.
    #[error("the account's quota of {0} leaves nothing to reserve: AWS keeps at least {min} unreserved; ask AWS to raise the quota (new accounts often start at 10) and set `account_limit` to it", min = crate::ir::derive::MIN_UNRESERVED)]
    NoReservableConcurrency(u32),
    /// The receiver cannot serve the API rate.
    #[error(
        "the receiver needs {needed} concurrent executions to serve {rate} at {duration} each (Little's law: rate x duration), but reserves {reserved}; reserve at least {needed}, lower `limits.api_rate`, or make it faster"
    )]
    ReceiverUnderCapacity {
        /// Executions needed.
        needed: u64,
        /// Reserved executions.
        reserved: u32,
        /// The API rate.
        rate: String,
        /// The expected duration.
        duration: String,
    },
    /// The processor's event source would invoke into throttles.
    #[error("the SQS event source's maximum concurrency is at least {source_min}, above the processor's reserved {reserved}: throttled receives burn maxReceiveCount and push good messages to the DLQ; reserve at least {source_min}", source_min = crate::ir::derive::MIN_SQS_SOURCE_CONCURRENCY)]
    ProcessorBelowEventSource {
        /// Reserved executions.
        reserved: u32,
    },
    /// A reservation of zero disables the function.
    #[error("a reservation of 0 stops the function from ever running; reserve at least 1")]
    ZeroReserved,
    /// Lambda memory out of range.
    #[error("{0} is not a Lambda memory size; use whole MiB from 128MiB to 10240MiB")]
    MemoryRange(String),
    /// A timeout out of range.
    #[error("a timeout of {value} is outside {min} to {max} in whole seconds{why}")]
    TimeoutRange {
        /// What was written.
        value: String,
        /// Shortest allowed.
        min: &'static str,
        /// Longest allowed.
        max: &'static str,
        /// Why the bound, if it is not Lambda's own.
        why: &'static str,
    },
    /// A batch size out of range.
    #[error("a batch size of {value} is outside {min} to {max}{why}")]
    BatchSize {
        /// What was written.
        value: u32,
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
        /// Why the bound.
        why: &'static str,
    },
    /// A batching window out of range.
    #[error("a batching window of {0} is outside 0s to 5m in whole seconds")]
    BatchingWindow(String),
    /// A redrive count below AWS's advice or above SQS's maximum.
    #[error(
        "{0} receives is outside 5 to 1000: AWS advises at least 5 for a queue behind a Lambda function (\"to avoid sending messages to the dead letter queue due to throttling\"; a whole batch that fails once spends a receive of every message in it), and SQS takes at most 1000"
    )]
    MaxReceiveCount(u32),
    /// Stream retries out of range.
    #[error("{0} retries is outside 0 to 10000")]
    RetriesRange(u32),
    /// A WAF window AWS does not offer.
    #[error("{0} is not a WAF evaluation window; AWS WAF offers 1m, 2m, 5m and 10m")]
    WafWindow(String),
    /// A per-IP rate that is not a whole count per window.
    #[error(
        "{rate} over {window} is not a whole number of requests; WAF limits count whole requests per window, so pick a rate that fills it exactly"
    )]
    WafLimitNotWhole {
        /// The rate.
        rate: String,
        /// The window.
        window: String,
    },
    /// A WAF limit out of AWS's range.
    #[error(
        "{rate} over {window} is a WAF limit of {limit} requests per window; AWS WAF accepts 10 to 2,000,000,000"
    )]
    WafLimitRange {
        /// The rate.
        rate: String,
        /// The window.
        window: String,
        /// The derived limit.
        limit: u64,
    },
    /// A managed rule group listed twice.
    #[error("`{0}` is listed twice")]
    DuplicateManagedRules(&'static str),
    /// A web ACL over AWS's capacity.
    #[error("the web ACL needs {0} capacity units, above AWS's {max} (without extra charge); turn a managed group off", max = crate::ir::derive::WEB_ACL_CAPACITY)]
    WafCapacity(u32),
    /// A per-IP rate above the whole API's.
    #[error(
        "the per-IP rate {per_ip} is above the API rate {api}: the stage throttle would always act first and the per-IP rule never"
    )]
    PerIpAboveApi {
        /// The per-IP rate.
        per_ip: String,
        /// The API rate.
        api: String,
    },
    /// A burst of zero.
    #[error("a burst of 0 lets no request through; allow at least 1")]
    ZeroBurst,
    /// A typical payload that is not one.
    #[error("a typical payload of {value} is outside 1B to `max_payload` ({max})")]
    TypicalPayload {
        /// What was written.
        value: String,
        /// `max_payload`.
        max: String,
    },
    /// The capacity model found a need over a limit: an error for a hard limit or a setting
    /// whose shortfall refuses requests, a warning for a quota or a lag.
    #[error("{0}")]
    Capacity(Box<crate::ir::capacity::Figure>),
    /// A payload limit that the webhook table cannot hold.
    #[error(
        "{value} does not fit a DynamoDB item (400 KB) with room for the webhook's other attributes; allow at most {max}"
    )]
    PayloadTooLarge {
        /// What was written.
        value: String,
        /// The largest allowed.
        max: String,
    },
    /// A payload limit below any real webhook.
    #[error("{0} is smaller than real webhooks; allow at least 1KiB")]
    PayloadTooSmall(String),
    /// An SQS retention out of range.
    #[error("{0} is outside SQS's message retention of 60s to 14d")]
    QueueRetentionRange(String),
    /// A DLQ that expires messages no later than its source queue.
    #[error(
        "the DLQ keeps messages {dlq}, not longer than the processing queue's {queue}; a message keeps its first enqueue time in the DLQ, so it would expire there early"
    )]
    DlqNotLonger {
        /// DLQ retention.
        dlq: String,
        /// Queue retention.
        queue: String,
    },
    /// A log retention CloudWatch does not offer.
    #[error(
        "{0} is not a CloudWatch Logs retention; allowed: 1d, 3d, 5d, 7d, 14d, 30d, 60d, 90d, 120d, 150d, 180d, 365d, 400d, 545d, 731d, 1096d, 1827d, 2192d, 2557d, 2922d, 3288d, 3653d"
    )]
    LogRetention(String),
    /// A record lifetime too short to be meant.
    #[error("{0} is not a record lifetime; use whole days, at least 1d")]
    TtlRange(String),
    /// An e-mail address that is not one.
    #[error("`{0}` is not an e-mail address")]
    BadEmail(String),
    /// An alarm period CloudWatch does not offer.
    #[error("{0} is not an alarm period; use 1m or a whole number of minutes up to 1d")]
    AlarmPeriod(String),
    /// An alarm threshold of zero.
    #[error("a threshold of 0 fires on every period; use at least 1")]
    ZeroThreshold,
    /// An event type name that cannot be one.
    #[error(
        "`{0}` is not an event type; write the provider's type name, such as charge.dispute.created"
    )]
    BadEventType(String),
}

/// A finding builder used by the rule files.
pub(crate) fn finding<T>(
    value: &Loc<T>,
    fallback: Pos,
    path: impl Into<String>,
    problem: Problem,
) -> Finding {
    Finding {
        at: value.at.or(fallback),
        path: path.into(),
        problem,
    }
}

/// Runs every rule on the spec's own values over `spec` and returns all findings, in file order.
/// The capacity model's verdicts ([`capacity`]) come after, on a spec that broke none of these:
/// the model needs every value in range.
pub fn check(spec: &Spec) -> Vec<Finding> {
    let mut out = Vec::new();
    stack::check(spec, &mut out);
    providers::check(spec, &mut out);
    limits::check(spec, &mut out);
    waf::check(spec, &mut out);
    concurrency::check(spec, &mut out);
    retention::check(spec, &mut out);
    alerts::check(spec, &mut out);
    out.sort_by_key(|f| f.at);
    out
}

/// The capacity model's figures over their limits, placed in `spec`, in file order: errors and
/// warnings (see [`Finding::is_warning`]).
pub fn capacity(spec: &Spec, model: &[crate::ir::capacity::Figure]) -> Vec<Finding> {
    let mut out = capacity::check(spec, model);
    out.sort_by_key(|f| f.at);
    out
}
