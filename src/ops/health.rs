//! `wh status` of a deployed stack: one screen from the table's `status-shard-index`, the queues,
//! the alarms and the last hour's metrics.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, StateValue};
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wh_runtime::model::Status;

use super::{Resources, queue};
use crate::deploy::{DeployError, aws_error};

/// How old a RECEIVED webhook must be to count as stuck (its enqueue failed; the receiver
/// answers within seconds, so a quarter of an hour is well past any retry).
pub const STUCK_AFTER: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// A deployed stack's health.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Health {
    /// The stack.
    pub stack: String,
    /// Webhooks RECEIVED, ENQUEUED and FAILED (all), PROCESSED (received in the last hour).
    pub webhooks: BTreeMap<String, u64>,
    /// RECEIVED for longer than [`STUCK_AFTER`]: `wh reenqueue` picks them up.
    pub stuck: u64,
    /// Processing queue: visible and in-flight messages.
    pub queue: (u64, u64),
    /// Dead-letter queue depth.
    pub dlq: u64,
    /// Age of the oldest message, seconds (CloudWatch, last 5 minutes): processing queue, DLQ.
    pub oldest_message_secs: (Option<f64>, Option<f64>),
    /// Alarms in ALARM, with their reasons (`None` when CloudWatch could not be read).
    pub alarms: Option<Vec<(String, String)>>,
    /// The last hour's sums: Accepted, Duplicate, SignatureFailures (the receiver's metrics),
    /// WafBlocked, Api4xx, Api5xx (`None` when CloudWatch could not be read).
    pub last_hour: Option<BTreeMap<String, f64>>,
    /// What could not be read, and why: the rest of the screen is still shown.
    pub unavailable: Vec<String>,
}

/// What CloudWatch tells about a stack.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CloudWatchView {
    /// Alarms in ALARM, with their reasons.
    pub alarms: Vec<(String, String)>,
    /// The last hour's sums by name.
    pub last_hour: BTreeMap<String, f64>,
    /// Age of the oldest message, seconds: processing queue, DLQ.
    pub oldest_message_secs: (Option<f64>, Option<f64>),
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Messages in a queue: visible, and in flight.
pub async fn queue_depths(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<(u64, u64), DeployError> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| aws_error(&format!("SQS GetQueueAttributes {url}"), e))?;
    let attrs = out.attributes.unwrap_or_default();
    let get = |k: QueueAttributeName| attrs.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0u64);
    Ok((
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}

/// Webhooks in `status` received in `[from, to]`, counted on the table's
/// `status-shard-index` over every shard (COUNT queries: read capacity for the keys only, no
/// items returned; [`wh_runtime::items::STATUS_SHARDS`] says why the index is sharded).
pub async fn count(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    status: Status,
    (from, to): (&str, &str),
) -> Result<u64, DeployError> {
    use wh_runtime::items::{STATUS_INDEX, STATUS_SHARDS, status_key};
    let mut total = 0;
    for shard in 0..STATUS_SHARDS {
        let mut start = None;
        loop {
            let out = ddb
                .query()
                .table_name(table)
                .index_name(STATUS_INDEX)
                .select(Select::Count)
                .key_condition_expression("status_shard = :k AND received_at BETWEEN :from AND :to")
                .expression_attribute_values(":k", AttributeValue::S(status_key(status, shard)))
                .expression_attribute_values(":from", AttributeValue::S(from.into()))
                .expression_attribute_values(":to", AttributeValue::S(to.into()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| aws_error("DynamoDB Query status-shard-index", e))?;
            total += u64::try_from(out.count).unwrap_or(0);
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
    }
    Ok(total)
}

fn dims(pairs: &[(&str, &str)]) -> Vec<Dimension> {
    pairs
        .iter()
        .map(|(k, v)| Dimension::builder().name(*k).value(*v).build())
        .collect()
}

fn query(
    id: &str,
    namespace: &str,
    metric: &str,
    d: Vec<Dimension>,
    stat: &str,
    period: i32,
) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(namespace)
                        .metric_name(metric)
                        .set_dimensions(Some(d))
                        .build(),
                )
                .period(period)
                .stat(stat)
                .build(),
        )
        .build()
}

/// Reads the stack's health at `now`.
pub async fn read(
    sdk: &aws_config::SdkConfig,
    r: &Resources,
    now: OffsetDateTime,
) -> Result<Health, DeployError> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let cw = aws_sdk_cloudwatch::Client::new(sdk);
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let mut h = Health {
        stack: r.stack.clone(),
        ..Health::default()
    };

    let all = (wh_runtime::ops::BEGINNING, "9999");
    let hour_ago = rfc3339(now - time::Duration::HOUR);
    let stuck_before = rfc3339(now - time::Duration::try_from(STUCK_AFTER).unwrap_or_default());
    for status in [Status::Received, Status::Enqueued, Status::Failed] {
        h.webhooks.insert(
            status.as_str().into(),
            count(&ddb, &r.table, status, all).await?,
        );
    }
    h.webhooks.insert(
        "PROCESSED (last hour)".into(),
        count(&ddb, &r.table, Status::Processed, (&hour_ago, "9999")).await?,
    );
    h.stuck = count(
        &ddb,
        &r.table,
        Status::Received,
        (wh_runtime::ops::BEGINNING, &stuck_before),
    )
    .await?;

    let processing = queue(&sqs, &r.processing_queue).await?;
    let dlq = queue(&sqs, &r.dead_letter_queue).await?;
    h.queue = queue_depths(&sqs, &processing.url).await?;
    h.dlq = queue_depths(&sqs, &dlq.url).await?.0;

    // CloudWatch is another service (and another permission): without it, the rest stands.
    match cloudwatch(&cw, r, &region, now).await {
        Ok(view) => {
            h.alarms = Some(view.alarms);
            h.last_hour = Some(view.last_hour);
            h.oldest_message_secs = view.oldest_message_secs;
        }
        Err(e) => h.unavailable.push(format!("alarms and metrics: {e}")),
    }
    Ok(h)
}

/// Alarms in ALARM, the last hour's metrics and the queues' oldest message ages, at `now`.
pub async fn cloudwatch(
    cw: &aws_sdk_cloudwatch::Client,
    r: &Resources,
    region: &str,
    now: OffsetDateTime,
) -> Result<CloudWatchView, DeployError> {
    let mut view = CloudWatchView::default();
    if !r.alarms.is_empty() {
        let out = cw
            .describe_alarms()
            .set_alarm_names(Some(r.alarms.clone()))
            .state_value(StateValue::Alarm)
            .send()
            .await
            .map_err(|e| aws_error("CloudWatch DescribeAlarms", e))?;
        view.alarms = out
            .metric_alarms()
            .iter()
            .map(|a| {
                (
                    a.alarm_name().unwrap_or_default().to_owned(),
                    a.state_reason().unwrap_or_default().to_owned(),
                )
            })
            .collect();
    }

    let stack_dim = dims(&[("Stack", &r.stack)]);
    let api = dims(&[("ApiName", &r.rest_api), ("Stage", &r.stage)]);
    let queries = vec![
        query(
            "accepted",
            &r.metrics_namespace,
            "Accepted",
            stack_dim.clone(),
            "Sum",
            3600,
        ),
        query(
            "duplicate",
            &r.metrics_namespace,
            "Duplicate",
            stack_dim.clone(),
            "Sum",
            3600,
        ),
        query(
            "signature",
            &r.metrics_namespace,
            "SignatureFailures",
            stack_dim,
            "Sum",
            3600,
        ),
        query(
            "waf",
            "AWS/WAFV2",
            "BlockedRequests",
            dims(&[("WebACL", &r.web_acl), ("Region", region), ("Rule", "ALL")]),
            "Sum",
            3600,
        ),
        query(
            "api4xx",
            "AWS/ApiGateway",
            "4XXError",
            api.clone(),
            "Sum",
            3600,
        ),
        query("api5xx", "AWS/ApiGateway", "5XXError", api, "Sum", 3600),
        query(
            "age",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            dims(&[("QueueName", &r.processing_queue)]),
            "Maximum",
            300,
        ),
        query(
            "dlqage",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            dims(&[("QueueName", &r.dead_letter_queue)]),
            "Maximum",
            300,
        ),
    ];
    let names = BTreeMap::from([
        ("accepted", "Accepted"),
        ("duplicate", "Duplicate"),
        ("signature", "SignatureFailures"),
        ("waf", "WafBlocked"),
        ("api4xx", "Api4xx"),
        ("api5xx", "Api5xx"),
    ]);
    let end = now.unix_timestamp();
    let out = cw
        .get_metric_data()
        .set_metric_data_queries(Some(queries))
        .start_time(DateTime::from_secs(end - 3600))
        .end_time(DateTime::from_secs(end))
        .send()
        .await
        .map_err(|e| aws_error("CloudWatch GetMetricData", e))?;
    for name in names.values() {
        view.last_hour.insert((*name).into(), 0.0);
    }
    for result in out.metric_data_results() {
        let id = result.id().unwrap_or_default();
        let values = result.values();
        match id {
            "age" => view.oldest_message_secs.0 = values.first().copied(),
            "dlqage" => view.oldest_message_secs.1 = values.first().copied(),
            _ => {
                if let Some(name) = names.get(id) {
                    view.last_hour.insert((*name).into(), values.iter().sum());
                }
            }
        }
    }
    Ok(view)
}

/// The screen.
pub fn render(h: &Health) -> String {
    let age = |a: Option<f64>| a.map_or_else(|| "no data".to_owned(), |s| format!("{s:.0} s"));
    let n = |k: &str| {
        h.last_hour
            .as_ref()
            .and_then(|m| m.get(k))
            .copied()
            .unwrap_or(0.0)
    };
    let mut out = format!("{} (deployed)\n", h.stack);
    out += &format!(
        "  webhooks   {}\n",
        h.webhooks
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if h.stuck > 0 {
        out += &format!(
            "  stuck      {} RECEIVED for over {} min: run `wh reenqueue`\n",
            h.stuck,
            STUCK_AFTER.as_secs() / 60
        );
    }
    out += &format!(
        "  queue      {} waiting, {} in flight, oldest {}\n",
        h.queue.0,
        h.queue.1,
        age(h.oldest_message_secs.0)
    );
    out += &format!(
        "  DLQ        {}, oldest {}{}\n",
        h.dlq,
        age(h.oldest_message_secs.1),
        if h.dlq > 0 {
            ": inspect, then `wh redrive`"
        } else {
            ""
        }
    );
    if h.last_hour.is_some() {
        out += &format!(
            "  last hour  accepted {:.0}, duplicates {:.0}, signature failures {:.0}, WAF blocked {:.0}, 5XX {:.0}\n",
            n("Accepted"),
            n("Duplicate"),
            n("SignatureFailures"),
            n("WafBlocked"),
            n("Api5xx")
        );
        out += &format!(
            "  throttles  not published for REST APIs; 4XX (429 throttles with 403s and other refusals) {:.0}\n",
            n("Api4xx")
        );
    }
    match &h.alarms {
        Some(alarms) if alarms.is_empty() => out += "  alarms     none in ALARM\n",
        Some(alarms) => {
            for (name, reason) in alarms {
                out += &format!("  ALARM      {name}: {reason}\n");
            }
        }
        None => {}
    }
    for what in &h.unavailable {
        out += &format!("  unavailable {what}\n");
    }
    out
}
