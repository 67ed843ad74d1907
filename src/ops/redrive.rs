//! DLQ redrive on a deployed stack: an SQS message move task from the dead-letter queue back to
//! the processing queue (what the console's "Start DLQ redrive" does), followed to its end.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::QueueRef;
use crate::deploy::{DeployError, aws_error};

/// How a move task ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Moved {
    /// `COMPLETED`, `FAILED`, `CANCELLED`.
    pub status: String,
    /// Messages moved.
    pub moved: i64,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// How long a redrive is followed before `wh redrive` stops watching (the task goes on).
pub const WATCH_LIMIT: Duration = Duration::from_secs(900);

/// Starts moving every message of `dlq` to `to`; returns the task handle.
pub async fn start(
    sqs: &aws_sdk_sqs::Client,
    dlq: &QueueRef,
    to: &QueueRef,
) -> Result<String, DeployError> {
    let out = sqs
        .start_message_move_task()
        .source_arn(&dlq.arn)
        .destination_arn(&to.arn)
        .send()
        .await
        .map_err(|e| aws_error("SQS StartMessageMoveTask", e))?;
    Ok(out.task_handle.unwrap_or_default())
}

/// Follows the newest move task from `dlq` until it ends.
pub async fn follow(
    sqs: &aws_sdk_sqs::Client,
    dlq: &QueueRef,
    poll: Duration,
    on_progress: &mut dyn FnMut(i64),
) -> Result<Moved, DeployError> {
    let started = Instant::now();
    loop {
        let out = sqs
            .list_message_move_tasks()
            .source_arn(&dlq.arn)
            .max_results(1)
            .send()
            .await
            .map_err(|e| aws_error("SQS ListMessageMoveTasks", e))?;
        if let Some(task) = out.results().first() {
            let status = task.status().unwrap_or_default().to_owned();
            let moved = task.approximate_number_of_messages_moved();
            on_progress(moved);
            if status != "RUNNING" && status != "CANCELLING" {
                return Ok(Moved {
                    status,
                    moved,
                    failure: task.failure_reason().map(str::to_owned),
                });
            }
        }
        if started.elapsed() > WATCH_LIMIT {
            return Err(DeployError::Timeout(
                "the redrive (it goes on in SQS)".into(),
                WATCH_LIMIT.as_secs(),
            ));
        }
        tokio::time::sleep(poll).await;
    }
}
