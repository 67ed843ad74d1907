//! Operating a deployed stack: where its parts are (from the spec and suffix, by the same name
//! builders the template uses), its health, DLQ redrive, and the runtime's recovery operations
//! on the AWS backends, and recovering what providers never delivered (`reconcile`). The CLI edge
//! is `src/cli/{secrets,status,redrive,reenqueue,replay,reconcile}.rs`.

pub mod health;
pub mod reconcile;
pub mod redrive;
pub mod secrets;
pub mod stack_state;

use std::collections::BTreeMap;

use crate::deploy::{DeployError, aws_error};
use crate::ir::names::Names;
use crate::ir::{SecretSource, Stack};

/// The deployed resources of one stack, by name.
#[derive(Clone, Debug)]
pub struct Resources {
    /// `<name>-<suffix>`.
    pub stack: String,
    /// The webhook table.
    pub table: String,
    /// The processing queue's name.
    pub processing_queue: String,
    /// The dead-letter queue's name.
    pub dead_letter_queue: String,
    /// The event bus.
    pub bus: String,
    /// Each provider's secret id (name or ARN).
    pub secrets: BTreeMap<String, String>,
    /// Every alarm's name.
    pub alarms: Vec<String>,
    /// The receiver's metrics namespace.
    pub metrics_namespace: String,
    /// The web ACL (its metrics' `WebACL` dimension).
    pub web_acl: String,
    /// The REST API's name (its metrics' `ApiName` dimension).
    pub rest_api: String,
    /// The stage.
    pub stage: String,
}

impl Resources {
    /// The resources of `stack` deployed under `suffix`.
    pub fn of(stack: &Stack, suffix: &str) -> Self {
        let n = Names::new(&stack.name, suffix);
        Resources {
            stack: n.stack(),
            table: n.webhook_table(),
            processing_queue: n.processing_queue(),
            dead_letter_queue: n.dead_letter_queue(),
            bus: n.event_bus(),
            secrets: stack
                .providers
                .iter()
                .map(|p| {
                    let id = match &p.secret {
                        SecretSource::Create => n.secret(&p.name),
                        SecretSource::Existing(arn) => arn.clone(),
                    };
                    (p.name.clone(), id)
                })
                .collect(),
            alarms: stack.alarms.iter().map(|a| n.alarm(&a.slug)).collect(),
            metrics_namespace: n.metrics_namespace(),
            web_acl: n.web_acl(),
            rest_api: n.rest_api(),
            stage: stack.stage.clone(),
        }
    }
}

/// A queue's URL and ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueRef {
    /// Its URL.
    pub url: String,
    /// Its ARN.
    pub arn: String,
}

/// Finds a queue by name.
pub async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<QueueRef, DeployError> {
    let url = sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| aws_error(&format!("SQS GetQueueUrl {name}"), e))?
        .queue_url
        .unwrap_or_default();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| aws_error(&format!("SQS GetQueueAttributes {name}"), e))?;
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default();
    Ok(QueueRef { url, arn })
}
