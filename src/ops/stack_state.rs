//! A deployed stack's state, read through the AWS APIs: queue depths and webhooks not yet
//! processed, for the soak check's after-check (which knows the stack by its flat-outputs file).
//! The reads are `wh status`'s (`ops::health`).

use wh_runtime::model::Status;

use super::health;

/// What is left in a stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Messages in the processing queue (visible and in flight).
    pub queued: u64,
    /// Messages in the dead-letter queue.
    pub dlq: u64,
    /// Webhooks stored but not processed (RECEIVED or ENQUEUED).
    pub unprocessed: u64,
}

/// The outputs the reading needs, from the flat-outputs file.
#[derive(Clone, Debug)]
pub struct StackOutputs {
    /// `ProcessingQueueUrl`.
    pub processing_queue_url: String,
    /// `DeadLetterQueueUrl`.
    pub dead_letter_queue_url: String,
    /// `WebhookTableName`.
    pub webhook_table: String,
}

impl StackOutputs {
    /// Reads them from one stack's outputs (`{"ProcessingQueueUrl": ..., ...}`).
    pub fn from_json(outputs: &serde_json::Value) -> Result<Self, String> {
        let get = |key: &str| {
            outputs[key]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("the flat-outputs file has no {key}"))
        };
        Ok(StackOutputs {
            processing_queue_url: get("ProcessingQueueUrl")?,
            dead_letter_queue_url: get("DeadLetterQueueUrl")?,
            webhook_table: get("WebhookTableName")?,
        })
    }
}

/// Reads what is left: queue depths (visible and in flight), and webhooks RECEIVED or ENQUEUED
/// (from the table's sparse `status-shard-index`, counted: queries, not a scan).
pub async fn leftovers(
    sdk: &aws_config::SdkConfig,
    outputs: &StackOutputs,
) -> Result<Leftovers, String> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let all = (wh_runtime::ops::BEGINNING, "9999");
    let mut unprocessed = 0;
    for status in [Status::Received, Status::Enqueued] {
        unprocessed += health::count(&ddb, &outputs.webhook_table, status, all)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(Leftovers {
        queued: queued(&sqs, &outputs.processing_queue_url).await?,
        dlq: queued(&sqs, &outputs.dead_letter_queue_url).await?,
        unprocessed,
    })
}

/// Messages in a queue, visible and in flight.
async fn queued(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, String> {
    let (visible, in_flight) = health::queue_depths(sqs, url)
        .await
        .map_err(|e| e.to_string())?;
    Ok(visible + in_flight)
}

/// Messages in the dead-letter queue (visible and in flight): the soak's after-check needs no
/// more of the queues.
pub async fn dlq_depth(sdk: &aws_config::SdkConfig, outputs: &StackOutputs) -> Result<u64, String> {
    queued(
        &aws_sdk_sqs::Client::new(sdk),
        &outputs.dead_letter_queue_url,
    )
    .await
}

/// Keys per BatchGetItem request: DynamoDB's maximum
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html>:
/// "up to 100 items").
pub const BATCH_GET_MAX: usize = 100;

/// Each webhook's status (`None`: not in the table), read from the table by key in batches of
/// [`BATCH_GET_MAX`], unprocessed keys retried: what the soak's after-check asks of every id
/// it had answered 2xx. Consistent reads, so a status written just before is seen.
pub async fn webhook_statuses(
    sdk: &aws_config::SdkConfig,
    table: &str,
    ids: &[String],
) -> Result<Vec<Option<String>>, String> {
    use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
    use std::collections::HashMap;
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let mut found: HashMap<String, String> = HashMap::new();
    for chunk in ids.chunks(BATCH_GET_MAX) {
        let keys = chunk
            .iter()
            .map(|id| wh_runtime::backends::aws::webhook_key(id))
            .collect::<Vec<_>>();
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .projection_expression("webhook_id, #s")
                .expression_attribute_names("#s", "status")
                .consistent_read(true)
                .build()
                .map_err(|e| e.to_string())?,
        );
        let mut rounds = 0;
        while let Some(r) = request.take() {
            rounds += 1;
            if rounds > 10 {
                return Err("DynamoDB left keys unprocessed after 10 BatchGetItem rounds".into());
            }
            let out = ddb
                .batch_get_item()
                .request_items(table, r)
                .send()
                .await
                .map_err(|e| crate::deploy::aws_error("DynamoDB BatchGetItem", e).to_string())?;
            for item in out
                .responses
                .unwrap_or_default()
                .remove(table)
                .unwrap_or_default()
            {
                let text = |k: &str| match item.get(k) {
                    Some(AttributeValue::S(s)) => Some(s.clone()),
                    _ => None,
                };
                if let (Some(id), Some(status)) = (text("webhook_id"), text("status")) {
                    found.insert(id, status);
                }
            }
            request = out.unprocessed_keys.and_then(|mut u| u.remove(table));
            if request.is_some() {
                tokio::time::sleep(std::time::Duration::from_millis(100 * rounds)).await;
            }
        }
    }
    Ok(ids.iter().map(|id| found.get(id).cloned()).collect())
}
