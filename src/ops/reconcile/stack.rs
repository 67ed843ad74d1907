//! The stacks `wh reconcile` reads and writes: a deployed one through the AWS APIs (the table
//! read in batches, the receiver's ingest path run here on the AWS backends), or `wh dev`
//! through its operations endpoints.

use time::OffsetDateTime;
use wh_runtime::backends::aws::{DynamoStore, SqsQueue};
use wh_runtime::backends::{BackendError, Secrets};
use wh_runtime::receiver::{Receiver, Request};
use wh_runtime::secret::SecretValue;

use super::Stack;
use crate::ir::handlers;

/// The ingest path checks no signature, so it reads no secret: a backend that has none.
pub struct NoSecrets;

impl Secrets for NoSecrets {
    async fn get(&self, provider: &str) -> Result<SecretValue, BackendError> {
        Err(BackendError::NotFound(format!(
            "the secret of {provider}: wh reconcile ingests without a signature"
        )))
    }
}

/// A deployed stack.
pub struct AwsStack {
    sdk: aws_config::SdkConfig,
    table: String,
    receiver: Receiver<DynamoStore, SqsQueue, NoSecrets>,
}

impl AwsStack {
    /// The stack whose webhook table is `table` and processing queue `queue_url`.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        stack: &crate::ir::Stack,
        table: &str,
        queue_url: &str,
    ) -> Self {
        AwsStack {
            sdk: sdk.clone(),
            table: table.to_owned(),
            // The base URL only matters to Square's signature, which ingest does not check.
            receiver: Receiver::new(
                handlers::receiver_config(stack, ""),
                DynamoStore::new(sdk, table),
                SqsQueue::new(sdk, queue_url),
                NoSecrets,
            ),
        }
    }
}

impl Stack for AwsStack {
    async fn stored(&self, ids: &[String]) -> Result<Vec<bool>, String> {
        let statuses =
            crate::ops::stack_state::webhook_statuses(&self.sdk, &self.table, ids).await?;
        Ok(statuses.iter().map(Option::is_some).collect())
    }

    async fn ingest(&self, provider: &str, body: &[u8], fetched_from: &str) -> Result<(), String> {
        let request = Request {
            provider: provider.to_owned(),
            body: body.to_vec(),
            ..Request::default()
        };
        let answer = self
            .receiver
            .ingest(request, fetched_from, OffsetDateTime::now_utc())
            .await;
        if answer.status == 200 {
            Ok(())
        } else {
            Err(format!(
                "the receiver answered {}: {}",
                answer.status, answer.body
            ))
        }
    }
}

/// A running `wh dev`, by its base URL.
pub struct DevStack {
    base: String,
    http: reqwest::Client,
}

impl DevStack {
    /// The `wh dev` at `base` (`http://127.0.0.1:8787`).
    pub fn new(base: &str) -> Self {
        DevStack {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn post(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<serde_json::Value, String> {
        let url = format!("{}/_wh/{path}", self.base);
        let response = self
            .http
            .post(&url)
            .query(query)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        let doc: serde_json::Value = response.json().await.unwrap_or_default();
        if status.is_success() {
            Ok(doc)
        } else {
            Err(format!("{url}: HTTP {status}: {doc}"))
        }
    }
}

impl Stack for DevStack {
    async fn stored(&self, ids: &[String]) -> Result<Vec<bool>, String> {
        let body = serde_json::to_vec(ids).map_err(|e| e.to_string())?;
        let doc = self.post("webhooks", &[], body).await?;
        let statuses = doc["statuses"]
            .as_array()
            .filter(|s| s.len() == ids.len())
            .ok_or_else(|| format!("wh dev answered {doc} for {} ids", ids.len()))?;
        Ok(statuses.iter().map(|s| !s.is_null()).collect())
    }

    async fn ingest(&self, provider: &str, body: &[u8], fetched_from: &str) -> Result<(), String> {
        self.post(
            &format!("ingest/{provider}"),
            &[("fetched_from", fetched_from)],
            body.to_vec(),
        )
        .await
        .map(drop)
    }
}
