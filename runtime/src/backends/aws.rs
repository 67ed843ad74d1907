//! AWS SDK backends: DynamoDB (webhook and audit tables), SQS, EventBridge, SNS, Secrets
//! Manager. The same semantics as [`super::memory`]: every state change is a conditional write.
//!
//! Item layout of the webhook table: a webhook is `pk = WEBHOOK#<id>`, `sk = WEBHOOK` with the
//! fields of [`WebhookRecord`] and `status_shard` (with `received_at`, the key of the sparse
//! [`STATUS_INDEX`]; every status change rewrites it);
//! a payment object's state is `pk = PAYMENT#<provider>#<object id>`, `sk = STATE`.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::{AuditSink, BackendError, Bus, Notifier, Queue, Secrets, Store};
use crate::items::{
    STATUS_INDEX, STATUS_SHARDS, StateItem, WebhookItem, status_key, status_shard, webhook_pk,
};
use crate::model::AuditRecord;
use crate::model::{NormalisedEvent, PaymentState, QueueMessage, Status, WebhookRecord};
use crate::secret::SecretValue;

fn unavailable(context: &str, e: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(format!("{context}: {e}"))
}

/// An SDK call's failure, with the whole chain of causes (the SDK's own `Display` stops at
/// "service error").
fn sdk_error(context: &str, e: impl std::error::Error) -> BackendError {
    unavailable(context, aws_sdk_dynamodb::error::DisplayErrorContext(e))
}

/// The webhook table's key of a webhook.
pub fn webhook_key(webhook_id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(webhook_pk(webhook_id))),
        ("sk".to_owned(), AttributeValue::S("WEBHOOK".into())),
    ])
}

/// Whether an SDK error is DynamoDB's "condition not met".
fn condition_failed<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException")
}

/// The webhook table.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoStore {
    /// The store over `table`.
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        DynamoStore {
            client: aws_sdk_dynamodb::Client::new(config),
            table: table.into(),
        }
    }

    async fn update(
        &self,
        webhook_id: &str,
        expression: &str,
        condition: &str,
        values: HashMap<String, AttributeValue>,
    ) -> Result<bool, BackendError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(webhook_key(webhook_id)))
            .update_expression(expression)
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_error("DynamoDB UpdateItem", e)),
        }
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl crate::ops::Index for DynamoStore {
    async fn find(
        &self,
        status: crate::model::Status,
        from: &str,
        to: &str,
    ) -> Result<Vec<String>, BackendError> {
        // Every shard of the status, merged in receipt order.
        let mut found: Vec<(String, String)> = Vec::new();
        for shard in 0..STATUS_SHARDS {
            let mut start = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(STATUS_INDEX)
                    .key_condition_expression(
                        "status_shard = :key AND received_at BETWEEN :from AND :to",
                    )
                    .expression_attribute_values(":key", s(&status_key(status, shard)))
                    .expression_attribute_values(":from", s(from))
                    .expression_attribute_values(":to", s(to))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| sdk_error("DynamoDB Query status-shard-index", e))?;
                found.extend(out.items().iter().filter_map(|item| {
                    match (item.get("pk"), item.get("received_at")) {
                        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(at))) => pk
                            .strip_prefix("WEBHOOK#")
                            .map(|id| (at.clone(), id.to_owned())),
                        _ => None,
                    }
                }));
                start = out.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        found.sort();
        Ok(found.into_iter().map(|(_, id)| id).collect())
    }
}

impl Store for DynamoStore {
    async fn insert_new(
        &self,
        record: &WebhookRecord,
    ) -> Result<Option<WebhookRecord>, BackendError> {
        let item = WebhookItem::new(record, None);
        let item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(item).map_err(|e| unavailable("encoding the webhook", e))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(e) if condition_failed(&e) => self.get(&record.webhook_id).await,
            Err(e) => Err(sdk_error("DynamoDB PutItem", e)),
        }
    }

    async fn get(&self, webhook_id: &str) -> Result<Option<WebhookRecord>, BackendError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(webhook_key(webhook_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB GetItem", e))?;
        out.item
            .map(|item| serde_dynamo::from_item::<_, WebhookItem>(item).map(|i| i.record))
            .transpose()
            .map_err(|e| unavailable("decoding the webhook", e))
    }

    async fn mark_enqueued(&self, webhook_id: &str, at: &str) -> Result<(), BackendError> {
        self.update(
            webhook_id,
            "SET #status = :enqueued, status_shard = :shard, enqueued_at = :at",
            "#status IN (:received, :enqueued)",
            HashMap::from([
                (":enqueued".into(), s("ENQUEUED")),
                (":received".into(), s("RECEIVED")),
                (":at".into(), s(at)),
                (
                    ":shard".into(),
                    s(&status_shard(webhook_id, Status::Enqueued)),
                ),
            ]),
        )
        .await
        .map(|_| ())
    }

    async fn reopen_failed(&self, webhook_id: &str) -> Result<bool, BackendError> {
        self.update(
            webhook_id,
            "SET #status = :received, status_shard = :shard, attempts = :zero REMOVE last_error",
            "#status = :failed",
            HashMap::from([
                (":received".into(), s("RECEIVED")),
                (":failed".into(), s("FAILED")),
                (":zero".into(), n(0)),
                (
                    ":shard".into(),
                    s(&status_shard(webhook_id, Status::Received)),
                ),
            ]),
        )
        .await
    }

    async fn mark_processed(
        &self,
        webhook_id: &str,
        attempts: u32,
        expires_at: i64,
    ) -> Result<bool, BackendError> {
        self.update(
            webhook_id,
            "SET #status = :processed, status_shard = :shard, attempts = :attempts, expires_at = :ttl REMOVE last_error",
            "attribute_exists(pk) AND #status <> :processed",
            HashMap::from([
                (":processed".into(), s("PROCESSED")),
                (":shard".into(), s(&status_shard(webhook_id, Status::Processed))),
                (":attempts".into(), n(attempts)),
                (":ttl".into(), n(expires_at)),
            ]),
        )
        .await
    }

    async fn record_failure(
        &self,
        webhook_id: &str,
        attempts: u32,
        error: &str,
        last_attempt: bool,
    ) -> Result<(), BackendError> {
        let (expression, status) = if last_attempt {
            (
                "SET attempts = :attempts, last_error = :error, #status = :failed, status_shard = :shard",
                "FAILED",
            )
        } else {
            ("SET attempts = :attempts, last_error = :error", "")
        };
        let mut values = HashMap::from([
            (":attempts".to_owned(), n(attempts)),
            (":error".to_owned(), s(error)),
            (":processed".to_owned(), s("PROCESSED")),
        ]);
        if last_attempt {
            values.insert(":failed".into(), s(status));
            values.insert(
                ":shard".into(),
                s(&status_shard(webhook_id, Status::Failed)),
            );
        }
        self.update(
            webhook_id,
            expression,
            "attribute_exists(pk) AND #status <> :processed",
            values,
        )
        .await
        .map(|_| ())
    }

    async fn advance_state(&self, state: &PaymentState) -> Result<bool, BackendError> {
        let item = StateItem::new(state);
        let item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(item).map_err(|e| unavailable("encoding the state", e))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #rank < :rank")
            .expression_attribute_names("#rank", "rank")
            .expression_attribute_values(":rank", n(state.rank))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_error("DynamoDB PutItem", e)),
        }
    }
}

/// The processing queue.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    /// The queue at `url`.
    pub fn new(config: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        SqsQueue {
            client: aws_sdk_sqs::Client::new(config),
            url: url.into(),
        }
    }
}

impl Queue for SqsQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), BackendError> {
        let body =
            serde_json::to_string(message).map_err(|e| unavailable("encoding the message", e))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("SQS SendMessage", e))
    }
}

/// The event bus.
#[derive(Clone, Debug)]
pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeBus {
    /// The bus named `bus`.
    pub fn new(config: &aws_config::SdkConfig, bus: impl Into<String>) -> Self {
        EventBridgeBus {
            client: aws_sdk_eventbridge::Client::new(config),
            bus: bus.into(),
        }
    }
}

impl Bus for EventBridgeBus {
    async fn publish(&self, event: &NormalisedEvent) -> Result<(), BackendError> {
        let detail =
            serde_json::to_string(event).map_err(|e| unavailable("encoding the event", e))?;
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(&event.provider)
            .detail_type(&event.event_type)
            .detail(detail)
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| sdk_error("EventBridge PutEvents", e))?;
        // PutEvents answers 200 even when an entry was refused.
        match out.failed_entry_count {
            0 => Ok(()),
            _ => Err(BackendError::Unavailable(format!(
                "EventBridge refused the event: {}",
                out.entries()
                    .first()
                    .and_then(|e| e.error_message())
                    .unwrap_or("no reason given")
            ))),
        }
    }
}

/// The alert topic.
#[derive(Clone, Debug)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    /// The topic `topic_arn`.
    pub fn new(config: &aws_config::SdkConfig, topic_arn: impl Into<String>) -> Self {
        SnsNotifier {
            client: aws_sdk_sns::Client::new(config),
            topic_arn: topic_arn.into(),
        }
    }
}

impl Notifier for SnsNotifier {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), BackendError> {
        // SNS subjects are at most 100 printable ASCII characters.
        let subject: String = subject
            .chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .take(100)
            .collect();
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("SNS Publish", e))
    }
}

/// The audit table.
#[derive(Clone, Debug)]
pub struct DynamoAudit {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoAudit {
    /// The audit table `table`.
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        DynamoAudit {
            client: aws_sdk_dynamodb::Client::new(config),
            table: table.into(),
        }
    }
}

impl AuditSink for DynamoAudit {
    async fn write(&self, record: AuditRecord) -> Result<(), BackendError> {
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(&record)
            .map_err(|e| unavailable("encoding the audit record", e))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("DynamoDB PutItem", e))
    }
}

/// Signing secrets in Secrets Manager, by provider.
#[derive(Clone, Debug)]
pub struct SecretsManagerSecrets {
    client: aws_sdk_secretsmanager::Client,
    arns: BTreeMap<String, String>,
}

impl SecretsManagerSecrets {
    /// Secrets at `arns` (provider -> secret ARN).
    pub fn new(config: &aws_config::SdkConfig, arns: BTreeMap<String, String>) -> Self {
        SecretsManagerSecrets {
            client: aws_sdk_secretsmanager::Client::new(config),
            arns,
        }
    }
}

impl Secrets for SecretsManagerSecrets {
    async fn get(&self, provider: &str) -> Result<SecretValue, BackendError> {
        let arn = self
            .arns
            .get(provider)
            .ok_or_else(|| BackendError::NotFound(format!("secret of {provider}")))?;
        let out = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| sdk_error("Secrets Manager GetSecretValue", e))?;
        let text = out
            .secret_string()
            .ok_or_else(|| BackendError::Unavailable("the secret has no string value".into()))?;
        SecretValue::parse(text).map_err(|e| BackendError::Unavailable(e.to_string()))
    }
}
