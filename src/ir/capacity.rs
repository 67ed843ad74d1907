//! The capacity model: what one webhook costs each AWS service on its path, times the spec's
//! `api_rate` (and `api_burst` where a burst matters), against the limit that service puts on
//! it. moto and the linters see none of this; every limit here is AWS's documented figure,
//! quoted with its page, and pinned in this file's tests.
//!
//! Each [`Figure`] is one need against one limit. Its [`Bound`] says what kind of limit it is,
//! and so what exceeding it means ([`Figure::verdict`]):
//! - [`Bound::Hard`]: AWS cannot raise it: the spec is refused (an error).
//! - [`Bound::Quota`]: an adjustable quota, at its default: a warning naming the Service Quotas
//!   code to raise; `wh deploy` reads the account's applied value and refuses if it is short.
//! - [`Bound::Setting`]: the stack's own setting (a reservation): an error where falling short
//!   answers providers 5xx, a warning where a queue or stream absorbs it and work only lags.
//! - [`Bound::Assumed`]: a limit that rests on a stated assumption rather than a published
//!   figure (how many shards a stream has): a warning.
//!
//! Per webhook, the path is: API Gateway -> receiver (PutItem of the webhook, SendMessage,
//! UpdateItem to ENQUEUED) -> SQS -> processor (GetItem, PutEvents, PutItem of the payment
//! state, UpdateItem to PROCESSED, Publish for critical events) -> the table's stream -> audit
//! logger (one PutItem per stream record: the webhook's INSERT, its two MODIFYs, the payment
//! state's write, and in steady state the TTL's REMOVE `processed_items` later).

use serde::Serialize;

use super::Stack;
use super::derive;
use super::names::Function;

/// DynamoDB bills a write by the item's size in 1 KB units: "One write request unit represents
/// one write for an item up to 1 KB in size"; an update is billed on the larger of the item's
/// before and after images, so a status change of a webhook costs its whole size.
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html>
pub const WRITE_UNIT_BYTES: u64 = 1_024;
/// A strongly consistent read of up to 4 KB is one read unit (same page).
pub const READ_UNIT_BYTES: u64 = 4_096;
/// The largest DynamoDB item: "The maximum item size in DynamoDB is 400 KB", names included.
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html>
pub const MAX_ITEM_BYTES: u64 = 400 * 1_024;
/// One partition serves "a maximum of 3,000 read units per second and 1,000 write units per
/// second"; one partition key value never spans partitions when its sort key only grows.
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html>
pub const PARTITION_WRITE_UNITS: u64 = 1_000;
/// A new on-demand table serves "up to 4,000 writes per second and 12,000 reads per second"
/// until it has seen more; `WarmThroughput` raises that start.
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput.html>
pub const ON_DEMAND_START_WRITES: u64 = 4_000;
/// See [`ON_DEMAND_START_WRITES`].
pub const ON_DEMAND_START_READS: u64 = 12_000;
/// An on-demand table's default maximum, per table: 40,000 write request units per second
/// (adjustable).
pub const TABLE_MAX_WRITES: u64 = 40_000;

/// Lambda's scaling rate: "each function can scale up by 1,000 concurrent executions every 10
/// seconds"; a burst that needs more at once is throttled, and no quota raises it.
/// <https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html>
pub const LAMBDA_SCALE_STEP: u64 = 1_000;
/// The largest `ParallelizationFactor` of a stream event source: "1 to 10".
/// <https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html>
pub const MAX_PARALLELIZATION: u32 = 10;
/// SQS standard queues: "approximately 120,000" in-flight messages per queue.
/// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html>
pub const SQS_MAX_IN_FLIGHT: u64 = 120_000;
/// The largest PutEvents entry ("less than 256KB"); the processor publishes larger events
/// without their data ([`wh_runtime::model::MAX_EVENT_ENTRY_BYTES`]).
pub const EVENT_ENTRY_BYTES: u64 = wh_runtime::model::MAX_EVENT_ENTRY_BYTES as u64;

/// Room in a webhook item for everything besides the body: API Gateway takes at most 10,240
/// bytes of request line and headers, plus ids, status and times; 16 KiB.
pub const HEADER_ALLOWANCE: u64 = 16 * 1_024;
/// Stored headers and webhook fields besides the body, in a typical item (ids, status, times,
/// provider headers less signatures): about 1 KiB.
pub const TYPICAL_OVERHEAD_BYTES: u64 = 1_024;
/// The normalised event's fields besides the provider's payload, with source and detail type.
pub const EVENT_ENVELOPE_BYTES: u64 = 1_024;
/// Webhook-table writes per webhook besides the webhook's own three (its put and two status
/// updates): the payment object's state, one small item.
pub const STATE_WRITES: u64 = 1;
/// Index writes per webhook: the put into `RECEIVED` (1), the move to `ENQUEUED` (a delete and
/// a put, 2) and the move to `PROCESSED` (2); a KEYS_ONLY entry is under 1 KB, one unit each.
pub const INDEX_WRITES: u64 = 5;
/// Index writes per webhook into one status key: each of `RECEIVED` and `ENQUEUED` is put and
/// then deleted.
pub const INDEX_WRITES_PER_KEY: u64 = 2;
/// Stream records per webhook: INSERT, MODIFY to ENQUEUED, MODIFY to PROCESSED, the state's
/// write, and the TTL's REMOVE once `processed_items` has passed (steady state).
pub const STREAM_RECORDS: u64 = 5;
/// Audit write units per webhook: the INSERT's and the REMOVE's records carry the headers and
/// fields (2 units each), the three others only what changed (1 each); the body is never
/// copied (a digest stands for it).
pub const AUDIT_WRITES: u64 = 7;
/// How much the emitted `WarmThroughput` exceeds the modelled need, for the typical size being
/// an estimate; rounded up to whole thousands.
pub const WARM_HEADROOM: f64 = 1.25;

/// What kind of limit a figure is held against.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Bound {
    /// AWS's fixed limit.
    Hard {
        /// The AWS page that states it.
        source: &'static str,
    },
    /// An adjustable quota at its default value.
    Quota(Quota),
    /// The stack's own setting.
    Setting {
        /// Whether falling short answers providers with errors (else work only lags).
        refuses: bool,
    },
    /// A limit that rests on an assumption, not a published figure.
    Assumed {
        /// The assumption and where it comes from.
        assumption: &'static str,
    },
}

/// An adjustable AWS quota, as Service Quotas names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Quota {
    /// Service Quotas' service code (`apigateway`).
    pub service_code: &'static str,
    /// The quota code (`L-8A5B8E43`), where AWS publishes one.
    pub quota_code: Option<&'static str>,
    /// The quota's name in Service Quotas.
    pub name: &'static str,
    /// The AWS page that states the default.
    pub source: &'static str,
}

/// One need against one limit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figure {
    /// The AWS service.
    pub service: &'static str,
    /// What is counted.
    pub what: &'static str,
    /// What the stack needs, in `unit`.
    pub need: u64,
    /// What the limit allows, in `unit`.
    pub limit: u64,
    /// The unit of both.
    pub unit: &'static str,
    /// How the need was worked out.
    pub basis: String,
    /// The kind of limit.
    pub bound: Bound,
    /// The spec field that moves the need or the limit.
    pub field: &'static str,
    /// What to change when the need is over the limit.
    pub fix: String,
}

/// What a figure means for the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The limit holds the need.
    Holds,
    /// Over an adjustable quota, an assumed limit, or a setting that only makes work lag.
    Warning,
    /// Over a hard limit, or a setting whose shortfall answers providers with errors.
    Error,
}

impl Figure {
    /// Whether the limit holds the need, and if not how bad that is.
    pub fn verdict(&self) -> Verdict {
        if self.need <= self.limit {
            return Verdict::Holds;
        }
        match self.bound {
            Bound::Hard { .. } | Bound::Setting { refuses: true } => Verdict::Error,
            Bound::Quota(_) | Bound::Setting { refuses: false } | Bound::Assumed { .. } => {
                Verdict::Warning
            }
        }
    }

    /// The limit over the need (infinite headroom is shown as the limit over 1).
    pub fn headroom(&self) -> f64 {
        self.limit as f64 / self.need.max(1) as f64
    }
}

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Figure {
            service,
            what,
            need,
            limit,
            unit,
            basis,
            fix,
            ..
        } = self;
        write!(f, "{service} {what}: needs {need} {unit} ({basis}), ")?;
        match &self.bound {
            Bound::Hard { source } => write!(
                f,
                "above AWS's fixed limit of {limit} ({source}), which no quota raises; {fix}"
            ),
            Bound::Quota(q) => write!(
                f,
                "above the default quota of {limit} (\"{}\", Service Quotas {}/{}; {}): ask AWS to raise it before deploying, or {fix}",
                q.name,
                q.service_code,
                q.quota_code.unwrap_or("no published code"),
                q.source
            ),
            Bound::Setting { refuses: true } => {
                write!(
                    f,
                    "but the spec gives {limit}: requests above it are refused; {fix}"
                )
            }
            Bound::Setting { refuses: false } => write!(f, "but the spec gives {limit}; {fix}"),
            Bound::Assumed { assumption } => {
                write!(f, "above {limit} (an estimate: {assumption}); {fix}")
            }
        }
    }
}

/// The table capacity the template provisions, derived from the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tables {
    /// The webhook table's warm write units, when above the on-demand start.
    pub webhook_warm_writes: Option<u64>,
    /// The webhook table's warm read units, when above the on-demand start.
    pub webhook_warm_reads: Option<u64>,
    /// The status index's warm write units, when above the on-demand start.
    pub index_warm_writes: Option<u64>,
    /// The audit table's warm write units, when above the on-demand start.
    pub audit_warm_writes: Option<u64>,
}

/// What the model needs to know of a stack ([`super::Stack::load`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Load {
    /// Webhooks per second at the API's steady rate.
    pub rate: f64,
    /// The API's burst.
    pub burst: u32,
    /// A typical body in bytes.
    pub typical_payload: u64,
    /// The largest body in bytes.
    pub max_payload: u64,
    /// The receiver's time per request, seconds.
    pub receiver_secs: f64,
    /// The processor's time per message, seconds.
    pub processor_secs: f64,
    /// The audit logger's time per stream record, seconds.
    pub audit_secs: f64,
}

fn units(bytes: u64, unit: u64) -> u64 {
    bytes.div_ceil(unit).max(1)
}

fn per_second(rate: f64, per_webhook: u64) -> u64 {
    (rate * per_webhook as f64).ceil() as u64
}

fn warm(need: u64) -> Option<u64> {
    warm_above(need, ON_DEMAND_START_WRITES)
}

fn warm_above(need: u64, start: u64) -> Option<u64> {
    (need > start).then(|| ((need as f64 * WARM_HEADROOM).ceil() as u64).div_ceil(1_000) * 1_000)
}

impl Load {
    /// Write units of one typical webhook's item.
    pub fn item_units(&self) -> u64 {
        units(
            self.typical_payload + TYPICAL_OVERHEAD_BYTES,
            WRITE_UNIT_BYTES,
        )
    }

    /// Webhook-table write units per webhook: its put and two status updates, each the whole
    /// item, plus the payment state.
    pub fn table_writes_per_webhook(&self) -> u64 {
        3 * self.item_units() + STATE_WRITES
    }

    /// Webhook-table write units per second at the full rate.
    pub fn table_writes(&self) -> u64 {
        per_second(self.rate, self.table_writes_per_webhook())
    }

    /// Webhook-table read units per second: the processor's consistent GetItem of each.
    pub fn table_reads(&self) -> u64 {
        per_second(
            self.rate,
            units(
                self.typical_payload + TYPICAL_OVERHEAD_BYTES,
                READ_UNIT_BYTES,
            ),
        )
    }

    /// Status-index write units per second.
    pub fn index_writes(&self) -> u64 {
        per_second(self.rate, INDEX_WRITES)
    }

    /// Audit-table write units per second.
    pub fn audit_writes(&self) -> u64 {
        per_second(self.rate, AUDIT_WRITES)
    }

    /// Stream records per second.
    pub fn stream_records(&self) -> u64 {
        per_second(self.rate, STREAM_RECORDS)
    }

    /// Stream shards, assumed one per partition of the webhook table; a partition takes 1,000
    /// write units a second, so there are at least as many as the table's (warm) writes need.
    pub fn shards(&self) -> u64 {
        let writes = warm(self.table_writes()).unwrap_or(ON_DEMAND_START_WRITES);
        writes.div_ceil(PARTITION_WRITE_UNITS).max(1)
    }

    /// Records per second arriving on one shard.
    pub fn records_per_shard(&self) -> f64 {
        self.stream_records() as f64 / self.shards() as f64
    }

    /// The table capacity to provision.
    pub fn tables(&self) -> Tables {
        Tables {
            webhook_warm_writes: warm(self.table_writes()),
            webhook_warm_reads: warm_above(self.table_reads(), ON_DEMAND_START_READS),
            index_warm_writes: warm(self.index_writes()),
            audit_warm_writes: warm(self.audit_writes()),
        }
    }

    /// The audit stream source's `ParallelizationFactor`: batches of one shard in flight at
    /// once, enough for a shard's records at the audit logger's time per record (1 to 10).
    pub fn parallelization(&self) -> u32 {
        let busy = self.records_per_shard() * self.audit_secs;
        (busy.ceil() as u32).clamp(1, MAX_PARALLELIZATION)
    }
}

const DYNAMODB_QUOTAS: &str =
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html";

/// API Gateway's account-level throttle, shared by every API and stage of the account in the
/// region: 10,000 requests per second.
/// <https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html>
pub const API_ACCOUNT_RATE: Quota = Quota {
    service_code: "apigateway",
    quota_code: Some("L-8A5B8E43"),
    name: "Throttle rate",
    source: "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html",
};
/// API Gateway's account-level burst: 5,000 requests ("determined by the API Gateway service
/// team based on the overall RPS quota": it follows the rate's).
pub const API_ACCOUNT_BURST: Quota = Quota {
    service_code: "apigateway",
    quota_code: Some("L-CDF5615A"),
    name: "Throttle burst rate",
    source: "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html",
};
/// An on-demand table's maximum write throughput (default 40,000 units a second).
pub const TABLE_WRITE_QUOTA: Quota = Quota {
    service_code: "dynamodb",
    quota_code: Some("L-AB614373"),
    name: "Table-level write throughput limit",
    source: DYNAMODB_QUOTAS,
};
/// EventBridge's PutEvents request rate per account and region (the default varies by region:
/// [`put_events_default`]).
pub const PUT_EVENTS: Quota = Quota {
    service_code: "events",
    quota_code: Some("L-9B653E91"),
    name: "PutEvents throttle limit in transactions per second",
    source: "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html",
};
/// SNS's Publish rate per account and region ([`sns_publish_default`]).
pub const SNS_PUBLISH: Quota = Quota {
    service_code: "sns",
    quota_code: Some("L-F8E2BA85"),
    name: "Messages Published per Second",
    source: "https://docs.aws.amazon.com/general/latest/gr/sns.html",
};
/// KMS's shared rate of symmetric cryptographic requests ([`kms_default`]).
pub const KMS_REQUESTS: Quota = Quota {
    service_code: "kms",
    quota_code: Some("L-6E3AF000"),
    name: "Cryptographic operations (symmetric) request rate",
    source: "https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html",
};
/// Secrets Manager's GetSecretValue rate (10,000 a second since March 2025; its Service Quotas
/// code is not published where we could read it, so the preflight does not ask for it).
pub const SECRETS_READS: Quota = Quota {
    service_code: "secretsmanager",
    quota_code: None,
    name: "Rate of GetSecretValue API requests",
    source: "https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html",
};
/// Default of [`SECRETS_READS`].
pub const SECRETS_READS_DEFAULT: u64 = 10_000;
/// Lambda's regional concurrency quota (the spec's `account_limit` says what the account has).
pub const LAMBDA_CONCURRENCY: Quota = Quota {
    service_code: "lambda",
    quota_code: Some("L-B99A9384"),
    name: "Concurrent executions",
    source: "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
};

/// EventBridge's default PutEvents rate in `region`, from the quota table of
/// <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html>.
pub fn put_events_default(region: &str) -> u64 {
    match region {
        "us-east-1" | "us-west-2" | "eu-west-1" => 10_000,
        "us-east-2" | "eu-central-1" | "eu-south-2" => 2_400,
        "us-west-1" | "ap-northeast-1" | "ap-southeast-1" | "ap-southeast-2" | "eu-west-2" => 1_200,
        "ap-east-1" | "ap-northeast-2" | "ap-south-1" | "ca-central-1" | "eu-north-1"
        | "eu-west-3" | "sa-east-1" => 600,
        _ => 400,
    }
}

/// SNS's default Publish rate in `region`, as the SNS endpoints and quotas page lists it. Our
/// stored copy of that page ends before its table, so these three figures are not verified
/// here; they only decide a compile-time warning, and `wh deploy` reads the account's value.
pub fn sns_publish_default(region: &str) -> u64 {
    match region {
        "us-east-1" => 30_000,
        "us-west-2" | "eu-west-1" => 9_000,
        _ => 1_500,
    }
}

/// KMS's default rate of symmetric requests in `region`, from
/// <https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html>.
pub fn kms_default(region: &str) -> u64 {
    match region {
        "us-east-1" | "us-west-2" | "eu-west-1" => 100_000,
        "us-east-2" | "ap-southeast-1" | "ap-southeast-2" | "ap-northeast-1" | "eu-central-1"
        | "eu-west-2" => 20_000,
        _ => 10_000,
    }
}

/// Regions where API Gateway's account throttle starts at 2,500/s and its burst at 1,250.
const API_SMALL_REGIONS: &[&str] = &[
    "af-south-1",
    "eu-south-1",
    "ap-southeast-3",
    "me-central-1",
    "ap-south-2",
    "ap-southeast-4",
    "eu-south-2",
    "eu-central-2",
    "il-central-1",
    "ca-west-1",
    "ap-southeast-5",
    "ap-southeast-7",
    "mx-central-1",
];

/// API Gateway's default account throttle in `region`: (rate, burst).
pub fn api_account_default(region: &str) -> (u64, u64) {
    if API_SMALL_REGIONS.contains(&region) {
        (2_500, 1_250)
    } else {
        (10_000, 5_000)
    }
}

/// KMS requests per webhook, an upper estimate: AWS does not say how often an event bus with a
/// customer managed key calls KMS, so we count a GenerateDataKey to store each event and a
/// Decrypt to match it (the two permissions its key policy needs). DynamoDB caches table keys
/// for five minutes per connection, SQS reuses data keys for `KmsDataKeyReusePeriodSeconds`
/// (300 s), and the receiver caches secrets for a minute: far apart, not per webhook.
pub const KMS_PER_WEBHOOK: u64 = 2;

/// The capacity model of `stack`: every service on a webhook's path, in path order.
pub fn model(stack: &Stack) -> Vec<Figure> {
    let load = stack.load();
    let rate = load.rate;
    let rate_text = stack.api.rate.to_string();
    let reserved = |f| u64::from(stack.function(f).reserved);
    let busy = |per_second: f64, secs: f64| (per_second * secs - 1e-9).ceil().max(1.0) as u64;
    let region = stack.region.as_str();
    let mut out = Vec::new();

    let (api_rate, api_burst) = api_account_default(region);
    out.push(Figure {
        service: "API Gateway",
        what: "account throttle",
        need: rate.ceil() as u64,
        limit: api_rate,
        unit: "requests/s",
        basis: format!("this stack's stage throttle {rate_text}; every API and stage of the account in {region} shares the account's rate"),
        bound: Bound::Quota(API_ACCOUNT_RATE),
        field: "limits.api_rate",
        fix: "lower `limits.api_rate`".into(),
    });
    out.push(Figure {
        service: "API Gateway",
        what: "account burst",
        need: u64::from(load.burst),
        limit: api_burst,
        unit: "requests",
        basis: "this stack's stage burst".into(),
        bound: Bound::Quota(API_ACCOUNT_BURST),
        field: "limits.api_burst",
        fix: "lower `limits.api_burst`".into(),
    });

    let steady =
        derive::receiver_concurrency_needed(stack.api.rate, stack.receiver_expected_duration);
    out.push(Figure {
        service: "Lambda",
        what: "receiver concurrency",
        need: steady,
        limit: reserved(Function::Receiver),
        unit: "executions",
        basis: format!(
            "Little's law: {rate_text} x {}",
            stack.receiver_expected_duration
        ),
        bound: Bound::Setting { refuses: true },
        field: "concurrency.receiver.reserved",
        fix: format!("reserve at least {steady}"),
    });
    let at_burst = busy(rate + f64::from(load.burst), load.receiver_secs);
    out.push(Figure {
        service: "Lambda",
        what: "receiver concurrency at a burst",
        need: at_burst,
        limit: reserved(Function::Receiver),
        unit: "executions",
        basis: format!(
            "the burst of {} and {rate_text} arriving within one second, {} each",
            load.burst, stack.receiver_expected_duration
        ),
        bound: Bound::Setting { refuses: false },
        field: "concurrency.receiver.reserved",
        fix: format!("reserve at least {at_burst}, or deliveries above the reservation are throttled during a burst (answered 5xx, retried by the provider)"),
    });
    out.push(Figure {
        service: "Lambda",
        what: "receiver scaling",
        need: at_burst.max(steady),
        limit: LAMBDA_SCALE_STEP,
        unit: "executions at once",
        basis: "the receiver's concurrency at a burst; a function adds at most 1,000 executions every 10 s".into(),
        bound: Bound::Hard {
            source: "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html",
        },
        field: "limits.api_burst",
        fix: "lower `limits.api_burst` or `limits.api_rate`, or make the receiver faster (`expected_duration`)".into(),
    });

    let item_units = load.item_units();
    out.push(Figure {
        service: "DynamoDB",
        what: "largest webhook item",
        need: load.max_payload + HEADER_ALLOWANCE,
        limit: MAX_ITEM_BYTES,
        unit: "bytes",
        basis: format!(
            "`max_payload` {} B + {} B of headers and fields",
            load.max_payload, HEADER_ALLOWANCE
        ),
        bound: Bound::Hard {
            source: DYNAMODB_QUOTAS,
        },
        field: "limits.max_payload",
        fix: "lower `limits.max_payload`".into(),
    });
    let tables = load.tables();
    let table_writes = load.table_writes();
    out.push(Figure {
        service: "DynamoDB",
        what: "webhook table writes",
        need: table_writes,
        limit: tables.webhook_warm_writes.unwrap_or(ON_DEMAND_START_WRITES),
        unit: "write units/s",
        basis: format!(
            "{rate_text} x (3 writes of the whole {item_units} KB item + {STATE_WRITES} state); a new on-demand table starts at {ON_DEMAND_START_WRITES}, the template's WarmThroughput covers the rest"
        ),
        bound: Bound::Setting { refuses: true },
        field: "limits.typical_payload",
        fix: "this is a bug in wh: the template's WarmThroughput is derived from this need".into(),
    });
    out.push(Figure {
        service: "DynamoDB",
        what: "webhook table reads",
        need: load.table_reads(),
        limit: tables.webhook_warm_reads.unwrap_or(ON_DEMAND_START_READS),
        unit: "read units/s",
        basis: format!("{rate_text} x one consistent GetItem of the item by the processor (4 KB a unit); a new table starts at {ON_DEMAND_START_READS}"),
        bound: Bound::Setting { refuses: true },
        field: "limits.api_rate",
        fix: "this is a bug in wh: the template's WarmThroughput is derived from this need".into(),
    });
    let index_writes = load.index_writes();
    out.push(Figure {
        service: "DynamoDB",
        what: "status index writes",
        need: index_writes,
        limit: tables.index_warm_writes.unwrap_or(ON_DEMAND_START_WRITES),
        unit: "write units/s",
        basis: format!("{rate_text} x {INDEX_WRITES} KEYS_ONLY entries (into RECEIVED, to ENQUEUED, to PROCESSED)"),
        bound: Bound::Setting { refuses: true },
        field: "limits.api_rate",
        fix: "this is a bug in wh: the index's WarmThroughput is derived from this need".into(),
    });
    let shards = u64::from(wh_runtime::items::STATUS_SHARDS);
    let per_key = (rate * INDEX_WRITES_PER_KEY as f64 / shards as f64).ceil() as u64;
    out.push(Figure {
        service: "DynamoDB",
        what: "status index writes per key",
        need: per_key,
        limit: PARTITION_WRITE_UNITS,
        unit: "write units/s",
        basis: format!("{rate_text} x {INDEX_WRITES_PER_KEY} writes into each of RECEIVED and ENQUEUED, spread over {shards} shards; a key whose sort key only grows stays on one partition"),
        bound: Bound::Hard {
            source: "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html",
        },
        field: "limits.api_rate",
        fix: format!(
            "lower `limits.api_rate` to at most {}/s",
            PARTITION_WRITE_UNITS * shards / INDEX_WRITES_PER_KEY
        ),
    });
    let audit_writes = load.audit_writes();
    out.push(Figure {
        service: "DynamoDB",
        what: "audit table writes",
        need: audit_writes,
        limit: tables.audit_warm_writes.unwrap_or(ON_DEMAND_START_WRITES),
        unit: "write units/s",
        basis: format!(
            "{rate_text} x {AUDIT_WRITES}: {STREAM_RECORDS} records of what changed, never the body"
        ),
        bound: Bound::Setting { refuses: true },
        field: "limits.api_rate",
        fix: "this is a bug in wh: the audit table's WarmThroughput is derived from this need"
            .into(),
    });

    for (what, need) in [
        ("webhook table maximum", table_writes),
        ("status index maximum", index_writes),
        ("audit table maximum", audit_writes),
    ] {
        out.push(Figure {
            service: "DynamoDB",
            what,
            need,
            limit: TABLE_MAX_WRITES,
            unit: "write units/s",
            basis: "the writes above; an on-demand table or index takes at most this, and is warmed to at most this".into(),
            bound: Bound::Quota(TABLE_WRITE_QUOTA),
            field: "limits.api_rate",
            fix: "lower `limits.api_rate`".into(),
        });
    }

    let stream_shards = load.shards();
    let per_shard = load.records_per_shard();
    let per_shard_capacity = (f64::from(load.parallelization()) / load.audit_secs).floor() as u64;
    out.push(Figure {
        service: "DynamoDB Streams",
        what: "records per shard",
        need: per_shard.ceil() as u64,
        limit: per_shard_capacity,
        unit: "records/s",
        basis: format!(
            "{} records/s ({STREAM_RECORDS} per webhook) over about {stream_shards} shards; ParallelizationFactor {} batches per shard at {} a record",
            load.stream_records(), load.parallelization(), stack.audit_expected_duration
        ),
        bound: Bound::Assumed {
            assumption: "one shard per table partition, a partition per 1,000 write units; AWS publishes no shard count",
        },
        field: "concurrency.audit.expected_duration",
        fix: "the iterator age grows while the rate lasts; make the audit logger faster".into(),
    });
    let audit_need = busy(load.stream_records() as f64, load.audit_secs);
    out.push(Figure {
        service: "Lambda",
        what: "audit logger concurrency",
        need: audit_need,
        limit: reserved(Function::Audit),
        unit: "executions",
        basis: format!(
            "Little's law: {} records/s x {}; the iterator age stays about one batch while this holds, and grows by the shortfall every second when not (records expire after 24 h)",
            load.stream_records(), stack.audit_expected_duration
        ),
        bound: Bound::Setting { refuses: false },
        field: "concurrency.audit.reserved",
        fix: format!("reserve at least {audit_need}, or audit records lag behind the table"),
    });

    out.push(Figure {
        service: "SQS",
        what: "messages in flight",
        need: reserved(Function::Processor) * u64::from(stack.processor_source.batch_size),
        limit: SQS_MAX_IN_FLIGHT,
        unit: "messages",
        basis: "processor concurrency x batch size".into(),
        bound: Bound::Hard {
            source: "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html",
        },
        field: "concurrency.processor.batch_size",
        fix: "lower `concurrency.processor.batch_size` or `reserved`".into(),
    });
    let processor_need = busy(rate, load.processor_secs);
    out.push(Figure {
        service: "Lambda",
        what: "processor concurrency",
        need: processor_need,
        limit: reserved(Function::Processor),
        unit: "executions",
        basis: format!("Little's law: {rate_text} x {} per message", stack.processor_expected_duration),
        bound: Bound::Setting { refuses: false },
        field: "concurrency.processor.reserved",
        fix: format!("reserve at least {processor_need}, or the queue grows while the rate lasts (it keeps what waits)"),
    });
    out.push(Figure {
        service: "EventBridge",
        what: "PutEvents",
        need: rate.ceil() as u64,
        limit: put_events_default(region),
        unit: "requests/s",
        basis: format!("one PutEvents per webhook; the default in {region}, shared by the account"),
        bound: Bound::Quota(PUT_EVENTS),
        field: "limits.api_rate",
        fix: "lower `limits.api_rate`".into(),
    });
    out.push(Figure {
        service: "EventBridge",
        what: "typical event entry",
        need: load.typical_payload + EVENT_ENVELOPE_BYTES,
        limit: EVENT_ENTRY_BYTES,
        unit: "bytes",
        basis: "the typical body and the normalised fields; a larger event is published without its `data` (`dataOmitted`), which stays in the table".into(),
        bound: Bound::Hard {
            source: "https://docs.aws.amazon.com/eventbridge/latest/userguide/calculate-putevents-entry-size.html",
        },
        field: "limits.typical_payload",
        fix: "most events would go out without their data: lower `limits.typical_payload` if it is not what providers send".into(),
    });
    if !stack.alerts.critical_events.is_empty() {
        out.push(Figure {
            service: "SNS",
            what: "Publish",
            need: rate.ceil() as u64,
            limit: sns_publish_default(region),
            unit: "messages/s",
            basis: format!("at most one alert per webhook (when every one is critical); the default in {region}"),
            bound: Bound::Quota(SNS_PUBLISH),
            field: "alerts.critical_events",
            fix: "alert on fewer event types".into(),
        });
    }
    out.push(Figure {
        service: "KMS",
        what: "requests",
        need: per_second(rate, KMS_PER_WEBHOOK),
        limit: kms_default(region),
        unit: "requests/s",
        basis: format!("{rate_text} x {KMS_PER_WEBHOOK} for the bus's events; the account's other encrypted services share the default in {region}"),
        bound: Bound::Quota(KMS_REQUESTS),
        field: "limits.api_rate",
        fix: "lower `limits.api_rate`".into(),
    });
    let providers = stack.providers.len() as u64;
    let ttl = wh_runtime::backends::cache::SECRET_TTL.as_secs().max(1);
    out.push(Figure {
        service: "Secrets Manager",
        what: "GetSecretValue",
        need: (reserved(Function::Receiver) * providers).div_ceil(ttl),
        limit: SECRETS_READS_DEFAULT,
        unit: "requests/s",
        basis: format!(
            "every receiver instance reads each of {providers} secrets once per {ttl} s cache"
        ),
        bound: Bound::Quota(SECRETS_READS),
        field: "concurrency.receiver.reserved",
        fix: "lower `concurrency.receiver.reserved`".into(),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(rate: f64, typical: u64) -> Load {
        Load {
            rate,
            burst: 2_000,
            typical_payload: typical,
            max_payload: 256 * 1_024,
            receiver_secs: 0.05,
            processor_secs: 0.04,
            audit_secs: 0.01,
        }
    }

    #[test]
    fn aws_figures_are_the_documented_ones() {
        assert_eq!(WRITE_UNIT_BYTES, 1_024);
        assert_eq!(READ_UNIT_BYTES, 4_096);
        assert_eq!(MAX_ITEM_BYTES, 409_600);
        assert_eq!(PARTITION_WRITE_UNITS, 1_000);
        assert_eq!(
            (ON_DEMAND_START_WRITES, ON_DEMAND_START_READS),
            (4_000, 12_000)
        );
        assert_eq!(TABLE_MAX_WRITES, 40_000);
        assert_eq!(LAMBDA_SCALE_STEP, 1_000);
        assert_eq!(MAX_PARALLELIZATION, 10);
        assert_eq!(SQS_MAX_IN_FLIGHT, 120_000);
        assert_eq!(EVENT_ENTRY_BYTES, 262_144);
        assert_eq!(api_account_default("us-east-1"), (10_000, 5_000));
        assert_eq!(api_account_default("eu-south-1"), (2_500, 1_250));
        assert_eq!(put_events_default("us-east-1"), 10_000);
        assert_eq!(put_events_default("eu-central-1"), 2_400);
        assert_eq!(put_events_default("ap-southeast-1"), 1_200);
        assert_eq!(put_events_default("sa-east-1"), 600);
        assert_eq!(put_events_default("me-south-1"), 400);
        assert_eq!(sns_publish_default("us-east-1"), 30_000);
        assert_eq!(kms_default("us-east-1"), 100_000);
        assert_eq!(kms_default("eu-central-1"), 20_000);
        assert_eq!(kms_default("ca-central-1"), 10_000);
        assert_eq!(API_ACCOUNT_RATE.quota_code, Some("L-8A5B8E43"));
        assert_eq!(API_ACCOUNT_BURST.quota_code, Some("L-CDF5615A"));
        assert_eq!(TABLE_WRITE_QUOTA.quota_code, Some("L-AB614373"));
        assert_eq!(PUT_EVENTS.quota_code, Some("L-9B653E91"));
        assert_eq!(SNS_PUBLISH.quota_code, Some("L-F8E2BA85"));
        assert_eq!(KMS_REQUESTS.quota_code, Some("L-6E3AF000"));
        assert_eq!(LAMBDA_CONCURRENCY.quota_code, Some("L-B99A9384"));
    }

    #[test]
    fn a_typical_webhook_costs_three_whole_items_and_a_state() {
        // 4 KiB body + 1 KiB of fields = 5 write units, written three times, + 1.
        let l = load(1_000.0, 4 * 1_024);
        assert_eq!(l.item_units(), 5);
        assert_eq!(l.table_writes_per_webhook(), 16);
        assert_eq!(l.table_writes(), 16_000);
        assert_eq!(l.index_writes(), 5_000);
        assert_eq!(l.audit_writes(), 7_000);
        // Over the 4,000 a new table serves: warm throughput, with 25 % over, in thousands.
        let t = l.tables();
        assert_eq!(t.webhook_warm_writes, Some(20_000));
        // 5 KB read consistently is 2 units: 2,000 a second, under the 12,000 start.
        assert_eq!((l.table_reads(), t.webhook_warm_reads), (2_000, None));
        assert_eq!(t.index_warm_writes, Some(7_000));
        assert_eq!(t.audit_warm_writes, Some(9_000));
        // 20 shards of 250 records/s each at 10 ms a record: 2.5 busy -> 3 batches per shard.
        assert_eq!(l.shards(), 20);
        assert_eq!(l.parallelization(), 3);
    }

    #[test]
    fn a_small_stack_needs_no_warm_throughput() {
        let l = load(100.0, 4 * 1_024);
        let t = l.tables();
        assert_eq!(
            (
                t.webhook_warm_writes,
                t.index_warm_writes,
                t.audit_warm_writes
            ),
            (None, None, None)
        );
        // 10,000/s of 5 KB items: 20,000 read units, warmed to 25,000.
        assert_eq!(
            load(10_000.0, 4 * 1_024).tables().webhook_warm_reads,
            Some(25_000)
        );
        // 500 records/s over the start's 4 shards: 125 a shard x 10 ms = 1.25 -> 2 at once.
        assert_eq!(l.shards(), 4);
        assert_eq!(l.parallelization(), 2);
    }

    #[test]
    fn verdicts_follow_the_kind_of_limit() {
        let figure = |need, bound| Figure {
            service: "S",
            what: "w",
            need,
            limit: 10,
            unit: "u",
            basis: String::new(),
            bound,
            field: "f",
            fix: String::new(),
        };
        let hard = Bound::Hard { source: "p" };
        assert_eq!(figure(10, hard.clone()).verdict(), Verdict::Holds);
        assert_eq!(figure(11, hard).verdict(), Verdict::Error);
        assert_eq!(
            figure(11, Bound::Quota(PUT_EVENTS)).verdict(),
            Verdict::Warning
        );
        assert_eq!(
            figure(11, Bound::Setting { refuses: true }).verdict(),
            Verdict::Error
        );
        assert_eq!(
            figure(11, Bound::Setting { refuses: false }).verdict(),
            Verdict::Warning
        );
        assert_eq!(
            figure(11, Bound::Assumed { assumption: "a" }).verdict(),
            Verdict::Warning
        );
    }
}
