//! A deployed stack's state, read through the AWS APIs: queue depths and webhooks not yet
//! processed. The soak check's after-check uses it; `wh status` will.

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_sdk_sqs::types::QueueAttributeName;

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

/// Messages in a queue, visible and in flight.
pub async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| {
            format!(
                "SQS GetQueueAttributes {url}: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?;
    let attrs = out.attributes.unwrap_or_default();
    Ok([
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .filter_map(|k| attrs.get(k).and_then(|v| v.parse::<u64>().ok()))
    .sum())
}

/// Reads what is left: queue depths, and webhooks per unfinished status from the table's sparse
/// `status-index` (a query, not a scan).
pub async fn leftovers(
    sdk: &aws_config::SdkConfig,
    outputs: &StackOutputs,
) -> Result<Leftovers, String> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let mut unprocessed = 0;
    for status in ["RECEIVED", "ENQUEUED"] {
        let mut start = None;
        loop {
            let out = dynamodb
                .query()
                .table_name(&outputs.webhook_table)
                .index_name("status-index")
                .key_condition_expression("#s = :s")
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":s", AttributeValue::S(status.into()))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "DynamoDB Query status-index: {}",
                        aws_sdk_dynamodb::error::DisplayErrorContext(e)
                    )
                })?;
            unprocessed += u64::try_from(out.count).unwrap_or(0);
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
    }
    Ok(Leftovers {
        queued: depth(&sqs, &outputs.processing_queue_url).await?,
        dlq: depth(&sqs, &outputs.dead_letter_queue_url).await?,
        unprocessed,
    })
}
