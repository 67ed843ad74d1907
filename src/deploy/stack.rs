//! CloudFormation calls: describe a stack, make and execute change sets (or create and update
//! directly), follow stack events to the end, delete.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::primitives::DateTimeFormat;
use aws_sdk_cloudformation::types::{
    Capability, ChangeAction, ChangeSetStatus, ChangeSetType, Parameter, Replacement, Tag,
};
use serde::Serialize;

use super::artifacts::TemplateSource;
use super::plan::{Action, Change, Plan};
use super::{DeployError, aws_error};

/// How long a change set may take to be computed, or a stack to finish.
pub const CHANGE_SET_TIMEOUT: Duration = Duration::from_secs(600);

/// A stack as DescribeStacks shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackInfo {
    /// The stack's ARN: it names the stack even after deletion.
    pub id: String,
    /// `CREATE_COMPLETE`, `UPDATE_ROLLBACK_COMPLETE`, ...
    pub status: String,
    /// Why it is in that status, when CloudFormation says.
    pub reason: Option<String>,
    /// Whether DeleteStack is refused until protection is lifted.
    pub termination_protection: bool,
}

/// The stack named `name`, or `None` when there is none.
pub async fn describe(cf: &Client, name: &str) -> Result<Option<StackInfo>, DeployError> {
    match cf.describe_stacks().stack_name(name).send().await {
        Ok(out) => Ok(out.stacks().first().map(|s| StackInfo {
            id: s.stack_id().unwrap_or(name).to_owned(),
            status: s
                .stack_status()
                .map(|s| s.as_str())
                .unwrap_or("")
                .to_owned(),
            reason: s.stack_status_reason().map(str::to_owned),
            termination_protection: s.enable_termination_protection().unwrap_or(false),
        })),
        // CloudFormation answers a missing stack with a ValidationError, not a 404.
        Err(e)
            if e.as_service_error()
                .and_then(|s| aws_sdk_cloudformation::error::ProvideErrorMetadata::message(s))
                .is_some_and(|m| m.contains("does not exist")) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error("CloudFormation DescribeStacks", e)),
    }
}

/// Turns termination protection on or off. A change set cannot set it (only CreateStack and
/// UpdateTerminationProtection can:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-protect-stacks.html>),
/// so `wh deploy` calls this after executing one.
pub async fn set_termination_protection(
    cf: &Client,
    stack: &str,
    enable: bool,
) -> Result<(), DeployError> {
    cf.update_termination_protection()
        .stack_name(stack)
        .enable_termination_protection(enable)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("CloudFormation UpdateTerminationProtection", e))
}

/// Whether no operation is running on a stack in `status`.
pub fn is_settled(status: &str) -> bool {
    !status.ends_with("_IN_PROGRESS")
}

/// What to ship.
#[derive(Clone, Debug)]
pub struct Deployment {
    /// The stack name.
    pub stack: String,
    /// The template.
    pub template: TemplateSource,
    /// Parameter values by key.
    pub parameters: Vec<(String, String)>,
    /// Stack tags (propagated to every resource that takes tags).
    pub tags: Vec<(String, String)>,
    /// The role CloudFormation acts as (`--cfn-role`); without one it uses the caller's
    /// credentials, which then need every permission the stack's resources need.
    pub role_arn: Option<String>,
    /// Rollback triggers and monitoring time (`None`: leave the stack's as they are).
    pub rollback: Option<aws_sdk_cloudformation::types::RollbackConfiguration>,
    /// Make a drift-aware change set (`DeploymentMode: REVERT_DRIFT`): CloudFormation compares
    /// the resources' live state too, lists the drifted ones it brings back to the template, and
    /// reverts them on execution; a plain change set leaves drift on resources whose template
    /// did not change (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/drift-aware-change-sets.html>).
    pub revert_drift: bool,
}

impl Deployment {
    fn parameters(&self) -> Vec<Parameter> {
        self.parameters
            .iter()
            .map(|(k, v)| {
                Parameter::builder()
                    .parameter_key(k)
                    .parameter_value(v)
                    .build()
            })
            .collect()
    }

    fn template_body(&self) -> Option<String> {
        match &self.template {
            TemplateSource::Body(b) => Some(b.clone()),
            TemplateSource::Url(_) => None,
        }
    }

    fn template_url(&self) -> Option<String> {
        match &self.template {
            TemplateSource::Url(u) => Some(u.clone()),
            TemplateSource::Body(_) => None,
        }
    }

    fn tags(&self) -> Vec<Tag> {
        self.tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    }
}

/// Whether a deploy creates the stack or updates it, from its current state.
pub fn change_set_type(existing: Option<&StackInfo>) -> Result<ChangeSetType, DeployError> {
    match existing.map(|s| s.status.as_str()) {
        // A stack left in review by a change set that was never executed has no resources yet.
        None | Some("REVIEW_IN_PROGRESS") => Ok(ChangeSetType::Create),
        Some("ROLLBACK_COMPLETE") => Err(DeployError::Preflight(
            "the stack's first create failed and was rolled back (ROLLBACK_COMPLETE); it can only be deleted: \
             run `wh destroy` (with --force for a retain spec), then deploy again"
                .into(),
        )),
        Some(s) if !is_settled(s) => Err(DeployError::Preflight(format!(
            "the stack is busy ({s}); wait until it settles (`wh deploy` again will show it)"
        ))),
        Some(_) => Ok(ChangeSetType::Update),
    }
}

/// The stack named `name`, if any, and whether a deploy creates or updates it.
pub async fn deploy_state(
    cf: &Client,
    name: &str,
) -> Result<(Option<StackInfo>, ChangeSetType), DeployError> {
    let existing = describe(cf, name).await?;
    let kind = change_set_type(existing.as_ref())?;
    Ok((existing, kind))
}

/// The template the stack was last deployed with, as it was sent (`TemplateStage::Original`),
/// for the broadening gate. `wh` sends JSON; a stack deployed from YAML by other tools is
/// refused with the reason rather than compared wrongly.
pub async fn deployed_template(cf: &Client, stack: &str) -> Result<serde_json::Value, DeployError> {
    let out = cf
        .get_template()
        .stack_name(stack)
        .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
        .send()
        .await
        .map_err(|e| aws_error("CloudFormation GetTemplate", e))?;
    let body = out.template_body().unwrap_or("");
    serde_json::from_str(body).map_err(|e| {
        DeployError::Preflight(format!(
            "the deployed template of {stack} is not JSON ({e}), so what this deploy widens cannot be computed; \
             review the change set and pass --approve-broadening"
        ))
    })
}

/// A change set, ready to execute, or nothing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prepared {
    /// CloudFormation found nothing to change (the change set was deleted).
    NoChanges,
    /// A change set and what it will do.
    ChangeSet {
        /// Its name.
        name: String,
        /// Create or update.
        kind: ChangeSetType,
        /// The changes.
        plan: Plan,
    },
}

/// Whether a failed change set's reason means "nothing to change" (AWS's words for a change
/// set, and for UpdateStack).
pub fn means_no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// Creates change set `set` for `d`, waits until CloudFormation has computed it, and returns
/// its plan. `poll` is the interval between DescribeChangeSet calls.
pub async fn create_change_set(
    cf: &Client,
    d: &Deployment,
    kind: ChangeSetType,
    set: &str,
    poll: Duration,
) -> Result<Prepared, DeployError> {
    let request = cf
        .create_change_set()
        .stack_name(&d.stack)
        .change_set_name(set)
        .change_set_type(kind.clone())
        .set_parameters(Some(d.parameters()))
        .set_tags(Some(d.tags()))
        .capabilities(Capability::CapabilityNamedIam)
        .set_role_arn(d.role_arn.clone())
        .set_template_body(d.template_body())
        .set_template_url(d.template_url())
        .set_rollback_configuration(d.rollback.clone())
        .set_deployment_mode(
            d.revert_drift
                .then_some(aws_sdk_cloudformation::types::DeploymentMode::RevertDrift),
        )
        .description("wh deploy");
    request
        .send()
        .await
        .map_err(|e| aws_error("CloudFormation CreateChangeSet", e))?;

    let started = Instant::now();
    loop {
        let mut changes = Vec::new();
        let mut token = None;
        let status = loop {
            let out = cf
                .describe_change_set()
                .stack_name(&d.stack)
                .change_set_name(set)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| aws_error("CloudFormation DescribeChangeSet", e))?;
            changes.extend(
                out.changes()
                    .iter()
                    .filter_map(|c| c.resource_change())
                    .map(to_change),
            );
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break (
                    out.status().cloned(),
                    out.status_reason().map(str::to_owned),
                );
            }
        };
        match status {
            (Some(ChangeSetStatus::CreateComplete), _) => {
                return Ok(Prepared::ChangeSet {
                    name: set.to_owned(),
                    kind,
                    plan: Plan { changes },
                });
            }
            (Some(ChangeSetStatus::Failed), reason) => {
                let reason = reason.unwrap_or_else(|| "no reason given".into());
                if means_no_changes(&reason) {
                    // A failed change set lingers in the console; nothing needs it.
                    let _ = delete_change_set(cf, &d.stack, set).await;
                    return Ok(Prepared::NoChanges);
                }
                return Err(DeployError::ChangeSet(reason));
            }
            _ if started.elapsed() > CHANGE_SET_TIMEOUT => {
                return Err(DeployError::Timeout(
                    format!("change set {set}"),
                    CHANGE_SET_TIMEOUT.as_secs(),
                ));
            }
            _ => tokio::time::sleep(poll).await,
        }
    }
}

fn to_change(rc: &aws_sdk_cloudformation::types::ResourceChange) -> Change {
    let replacement = rc.replacement();
    let action = match rc.action() {
        Some(ChangeAction::Add | ChangeAction::Import) => Action::Add,
        Some(ChangeAction::Remove) => Action::Remove,
        _ if matches!(
            replacement,
            Some(Replacement::True | Replacement::Conditional)
        ) =>
        {
            Action::Replace
        }
        _ => Action::Modify,
    };
    let mut causes: Vec<String> = rc
        .details()
        .iter()
        .filter_map(|d| d.target().and_then(|t| t.name()).map(str::to_owned))
        .collect();
    causes.sort();
    causes.dedup();
    Change {
        action,
        logical_id: rc.logical_resource_id().unwrap_or("?").to_owned(),
        resource_type: rc.resource_type().unwrap_or("?").to_owned(),
        maybe: action == Action::Replace && replacement == Some(&Replacement::Conditional),
        causes,
        // A drift-aware change set marks the drifted resources it brings back.
        drift: rc
            .resource_drift_status()
            .filter(|s| {
                matches!(
                    s,
                    aws_sdk_cloudformation::types::StackResourceDriftStatus::Modified
                        | aws_sdk_cloudformation::types::StackResourceDriftStatus::Deleted
                )
            })
            .map(|s| s.as_str().to_owned()),
    }
}

/// Executes change set `set` of `stack`.
pub async fn execute_change_set(cf: &Client, stack: &str, set: &str) -> Result<(), DeployError> {
    cf.execute_change_set()
        .stack_name(stack)
        .change_set_name(set)
        .send()
        .await
        .map_err(|e| aws_error("CloudFormation ExecuteChangeSet", e))?;
    Ok(())
}

/// Deletes change set `set` of `stack`.
pub async fn delete_change_set(cf: &Client, stack: &str, set: &str) -> Result<(), DeployError> {
    cf.delete_change_set()
        .stack_name(stack)
        .change_set_name(set)
        .send()
        .await
        .map_err(|e| aws_error("CloudFormation DeleteChangeSet", e))?;
    Ok(())
}

/// Sets the stack's policy (which updates may touch which resources).
pub async fn set_policy(
    cf: &Client,
    stack: &str,
    policy: &serde_json::Value,
) -> Result<(), DeployError> {
    cf.set_stack_policy()
        .stack_name(stack)
        .stack_policy_body(policy.to_string())
        .send()
        .await
        .map_err(|e| aws_error("CloudFormation SetStackPolicy", e))?;
    Ok(())
}

/// Whether a direct update started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direct {
    /// CreateStack or UpdateStack accepted.
    Started,
    /// UpdateStack found nothing to change.
    NoChanges,
}

/// CreateStack (when `create`) or UpdateStack, as `cdk deploy --method=direct` does.
pub async fn direct(cf: &Client, d: &Deployment, create: bool) -> Result<Direct, DeployError> {
    if create {
        cf.create_stack()
            .stack_name(&d.stack)
            .set_parameters(Some(d.parameters()))
            .set_tags(Some(d.tags()))
            .set_role_arn(d.role_arn.clone())
            .set_template_body(d.template_body())
            .set_template_url(d.template_url())
            .set_rollback_configuration(d.rollback.clone())
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .map_err(|e| aws_error("CloudFormation CreateStack", e))?;
        return Ok(Direct::Started);
    }
    let update = cf
        .update_stack()
        .stack_name(&d.stack)
        .set_parameters(Some(d.parameters()))
        .set_tags(Some(d.tags()))
        .set_role_arn(d.role_arn.clone())
        .set_template_body(d.template_body())
        .set_template_url(d.template_url())
        .set_rollback_configuration(d.rollback.clone())
        .capabilities(Capability::CapabilityNamedIam);
    match update.send().await {
        Ok(_) => Ok(Direct::Started),
        Err(e) => match aws_error("CloudFormation UpdateStack", e) {
            DeployError::Aws { message, .. } if means_no_changes(&message) => Ok(Direct::NoChanges),
            other => Err(other),
        },
    }
}

/// Deletes a stack (DeleteStack returns at once; [`watch`] follows it), as `role_arn` when given.
pub async fn delete(cf: &Client, stack: &str, role_arn: Option<&str>) -> Result<(), DeployError> {
    cf.delete_stack()
        .stack_name(stack)
        .set_role_arn(role_arn.map(str::to_owned))
        .send()
        .await
        .map_err(|e| aws_error("CloudFormation DeleteStack", e))?;
    Ok(())
}

/// One stack event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResourceEvent {
    /// `HH:MM:SS` UTC.
    pub time: String,
    /// The logical id (the stack's own name for the stack itself).
    pub logical_id: String,
    /// The resource type.
    pub resource_type: String,
    /// `CREATE_IN_PROGRESS`, `UPDATE_FAILED`, ...
    pub status: String,
    /// CloudFormation's reason, when it gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ResourceEvent {
    /// Whether this event reports a failure.
    pub fn failed(&self) -> bool {
        self.status.ends_with("_FAILED")
    }
}

/// How a stack operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finished {
    /// The final status.
    pub status: String,
    /// Whether it is the status asked for.
    pub succeeded: bool,
    /// The failed resources and their reasons, causes first (cancellations that only follow
    /// from another failure come after).
    pub failures: Vec<ResourceEvent>,
    /// The stack's own status reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The newest event's id: [`watch`] reports only events after it.
pub async fn newest_event(cf: &Client, stack: &str) -> Result<Option<String>, DeployError> {
    match cf.describe_stack_events().stack_name(stack).send().await {
        Ok(out) => Ok(out
            .stack_events()
            .first()
            .and_then(|e| e.event_id())
            .map(str::to_owned)),
        Err(e) => match aws_error("CloudFormation DescribeStackEvents", e) {
            DeployError::Aws { message, .. } if message.contains("does not exist") => Ok(None),
            other => Err(other),
        },
    }
}

/// Follows `stack` (name or id) until no operation runs on it, calling `on_event` for each new
/// event in order. `after` is the newest event before the operation began; `success` the
/// statuses that count as success. A stack that disappears counts as `DELETE_COMPLETE`.
pub async fn watch(
    cf: &Client,
    stack: &str,
    after: Option<&str>,
    success: &[&str],
    poll: Duration,
    on_event: &mut dyn FnMut(&ResourceEvent),
) -> Result<Finished, DeployError> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut failures = Vec::new();
    loop {
        let info = describe(cf, stack).await?;
        for event in new_events(cf, stack, after, &seen).await? {
            seen.insert(event.0);
            if event.1.failed() && event.1.reason.is_some() {
                failures.push(event.1.clone());
            }
            on_event(&event.1);
        }
        let Some(info) = info else {
            return Ok(Finished {
                status: "DELETE_COMPLETE".into(),
                succeeded: success.contains(&"DELETE_COMPLETE"),
                failures,
                reason: None,
            });
        };
        if is_settled(&info.status) && info.status != "REVIEW_IN_PROGRESS" {
            // Cancellations follow from the real failure; show the cause first.
            failures.sort_by_key(|e| e.reason.as_deref().is_some_and(|r| r.contains("cancelled")));
            return Ok(Finished {
                succeeded: success.contains(&info.status.as_str()),
                status: info.status,
                failures,
                reason: info.reason,
            });
        }
        tokio::time::sleep(poll).await;
    }
}

/// Events newer than `after` not yet `seen`, oldest first, with their ids.
async fn new_events(
    cf: &Client,
    stack: &str,
    after: Option<&str>,
    seen: &HashSet<String>,
) -> Result<Vec<(String, ResourceEvent)>, DeployError> {
    let mut fresh = Vec::new();
    let mut token = None;
    // Events come newest first; stop at the boundary or at what was already shown.
    'pages: for _ in 0..20 {
        let out = match cf
            .describe_stack_events()
            .stack_name(stack)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => match aws_error("CloudFormation DescribeStackEvents", e) {
                DeployError::Aws { message, .. } if message.contains("does not exist") => break,
                other => return Err(other),
            },
        };
        for e in out.stack_events() {
            let id = e.event_id().unwrap_or_default().to_owned();
            if Some(id.as_str()) == after || seen.contains(&id) {
                break 'pages;
            }
            let time = e
                .timestamp()
                .and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
                .and_then(|t| t.get(11..19).map(str::to_owned))
                .unwrap_or_default();
            fresh.push((
                id,
                ResourceEvent {
                    time,
                    logical_id: e.logical_resource_id().unwrap_or("?").to_owned(),
                    resource_type: e.resource_type().unwrap_or("?").to_owned(),
                    status: e
                        .resource_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    reason: e.resource_status_reason().map(str::to_owned),
                },
            ));
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    fresh.reverse();
    Ok(fresh)
}

/// A change set name unique enough per stack: `wh-<unix seconds>`.
pub fn change_set_name() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("wh-{secs}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(status: &str) -> StackInfo {
        StackInfo {
            termination_protection: false,
            id: "arn".into(),
            status: status.into(),
            reason: None,
        }
    }

    #[test]
    fn the_change_set_type_follows_the_stacks_state() {
        assert_eq!(change_set_type(None).unwrap(), ChangeSetType::Create);
        assert_eq!(
            change_set_type(Some(&info("REVIEW_IN_PROGRESS"))).unwrap(),
            ChangeSetType::Create
        );
        assert_eq!(
            change_set_type(Some(&info("UPDATE_ROLLBACK_COMPLETE"))).unwrap(),
            ChangeSetType::Update
        );
        let e = change_set_type(Some(&info("ROLLBACK_COMPLETE")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("wh destroy"), "{e}");
        let e = change_set_type(Some(&info("UPDATE_IN_PROGRESS")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("busy (UPDATE_IN_PROGRESS)"), "{e}");
    }

    #[test]
    fn both_of_awss_no_change_answers_are_recognised() {
        assert!(means_no_changes(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        ));
        assert!(means_no_changes("No updates are to be performed."));
        assert!(!means_no_changes(
            "Template format error: unresolved resource dependencies"
        ));
    }
}
