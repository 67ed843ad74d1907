//! Drift before a deploy: a change made outside CloudFormation (an incident fix in the console)
//! is silently overwritten by the next update, so `wh deploy` asks CloudFormation first
//! (DetectStackDrift, then DescribeStackDriftDetectionStatus until it is done, then
//! DescribeStackResourceDrifts), shows what drifted and what it could not check, and stops unless
//! `--overwrite-drift`
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/detect-drift-stack.html>;
//! detection reads every resource, so the deploying identity needs read permissions on each
//! resource type: README, "Deploying for real").

use std::time::{Duration, Instant};

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{StackDriftDetectionStatus, StackResourceDriftStatus};
use serde::Serialize;

use super::{DeployError, aws_error};

/// How long drift detection may take before the deploy gives up on it.
pub const DETECTION_TIMEOUT: Duration = Duration::from_secs(300);

/// One property that differs from the template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Its path in the resource's properties (`/ReservedConcurrentExecutions`).
    pub path: String,
    /// `ADD`, `REMOVE` or `NOT_EQUAL`.
    pub kind: String,
    /// What the template says.
    pub expected: String,
    /// What the resource has.
    pub actual: String,
}

/// A resource that drifted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResourceDrift {
    /// Its logical id.
    pub logical_id: String,
    /// Its type.
    pub resource_type: String,
    /// `MODIFIED` or `DELETED`.
    pub status: String,
    /// What differs (empty for a deleted resource).
    pub differences: Vec<Difference>,
}

/// What drift detection found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// The stack's drift status: `DRIFTED`, `IN_SYNC`, `NOT_CHECKED` or `UNKNOWN`.
    pub status: String,
    /// Resources modified or deleted outside CloudFormation.
    pub drifted: Vec<ResourceDrift>,
    /// Resources CloudFormation could not check (types drift detection does not support, or
    /// reads it was not allowed).
    pub not_checked: Vec<(String, String)>,
}

impl Drift {
    /// Whether a deploy would overwrite changes made outside CloudFormation.
    pub fn drifted(&self) -> bool {
        !self.drifted.is_empty()
    }

    /// What to show: one line per drifted resource, one per difference under it, then what was
    /// not checked.
    pub fn render(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.drifted {
            out.push(format!(
                "drifted: {} ({}) {}",
                r.logical_id, r.resource_type, r.status
            ));
            for d in &r.differences {
                out.push(format!(
                    "  {} {}: template {}, deployed {}",
                    d.path, d.kind, d.expected, d.actual
                ));
            }
        }
        if !self.not_checked.is_empty() {
            out.push(format!(
                "not checked by CloudFormation: {}",
                self.not_checked
                    .iter()
                    .map(|(id, t)| format!("{id} ({t})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out
    }
}

/// Runs drift detection on `stack` and reads what it found, polling every `poll`.
pub async fn detect(cf: &Client, stack: &str, poll: Duration) -> Result<Drift, DeployError> {
    let started = cf
        .detect_stack_drift()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| aws_error("CloudFormation DetectStackDrift", e))?;
    let Some(id) = started.stack_drift_detection_id().map(str::to_owned) else {
        return Err(DeployError::ChangeSet(format!(
            "DetectStackDrift on {stack} answered without a detection id"
        )));
    };
    let since = Instant::now();
    let status = loop {
        let s = cf
            .describe_stack_drift_detection_status()
            .stack_drift_detection_id(&id)
            .send()
            .await
            .map_err(|e| aws_error("CloudFormation DescribeStackDriftDetectionStatus", e))?;
        match s.detection_status() {
            Some(
                done @ (StackDriftDetectionStatus::DetectionComplete
                | StackDriftDetectionStatus::DetectionFailed),
            ) => {
                // Failed detection still reports the resources it could check; the reason
                // says which it could not (often a read permission).
                if *done == StackDriftDetectionStatus::DetectionFailed {
                    eprintln!(
                        "drift detection did not finish: {}",
                        s.detection_status_reason().unwrap_or("no reason given")
                    );
                }
                break s
                    .stack_drift_status()
                    .map(|d| d.as_str().to_owned())
                    .unwrap_or_default();
            }
            _ if since.elapsed() > DETECTION_TIMEOUT => {
                return Err(DeployError::ChangeSet(format!(
                    "drift detection of {stack} took longer than {} s",
                    DETECTION_TIMEOUT.as_secs()
                )));
            }
            _ => tokio::time::sleep(poll).await,
        }
    };
    let mut drift = Drift {
        status,
        ..Drift::default()
    };
    let mut token: Option<String> = None;
    loop {
        let page = cf
            .describe_stack_resource_drifts()
            .stack_name(stack)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::NotChecked)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| aws_error("CloudFormation DescribeStackResourceDrifts", e))?;
        for r in page.stack_resource_drifts() {
            let status = r
                .stack_resource_drift_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            let id = r.logical_resource_id().unwrap_or_default().to_owned();
            let kind = r.resource_type().unwrap_or_default().to_owned();
            if status == "NOT_CHECKED" {
                drift.not_checked.push((id, kind));
                continue;
            }
            drift.drifted.push(ResourceDrift {
                logical_id: id,
                resource_type: kind,
                status,
                differences: r
                    .property_differences()
                    .iter()
                    .map(|d| Difference {
                        path: d.property_path().unwrap_or_default().to_owned(),
                        kind: d
                            .difference_type()
                            .map(|k| k.as_str().to_owned())
                            .unwrap_or_default(),
                        expected: d.expected_value().unwrap_or_default().to_owned(),
                        actual: d.actual_value().unwrap_or_default().to_owned(),
                    })
                    .collect(),
            });
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok(drift)
}
