//! Rollback triggers: CloudFormation rolls an update back when one of these alarms goes to ALARM
//! while the update runs or within the monitoring time after it
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-rollback-triggers.html>:
//! at most 5 triggers, monitoring time 0 to 180 minutes; a trigger naming an alarm that does
//! not exist fails the operation; the triggers persist on the stack, so every deploy sends the
//! whole list).
//!
//! Which alarms (decision): those that measure whether the new code and configuration work, and
//! that nobody outside can trip: the API's 5XX answers, the receiver's errors and throttles (the
//! path that answers providers), and the processor's and audit logger's errors. Left out:
//! signature failures and WAF blocks (anyone on the internet can raise them), the DLQ and failure
//! queues' depth (they may hold messages from before the deploy, the kind a deploy is often meant
//! to fix), the stream's iterator age (it lags after any pause), and the processor's and audit
//! logger's throttles (their sources retry; the errors alarm covers a broken consumer). Those
//! are five: the limit, without a composite alarm.

use aws_sdk_cloudformation::types::{RollbackConfiguration, RollbackTrigger};
use serde::Serialize;

use super::{DeployError, aws_error};
use crate::ir::Stack;
use crate::ir::names::{Function, Names};

/// CloudFormation's limit of rollback triggers per stack.
pub const MAX_TRIGGERS: usize = 5;

/// The longest monitoring time CloudFormation accepts, minutes.
pub const MAX_MONITORING_MINUTES: u64 = 180;

/// The alarm slugs used as rollback triggers, in the order they are sent.
pub fn trigger_slugs() -> [String; MAX_TRIGGERS] {
    [
        "api-5xx".to_owned(),
        format!("{}-errors", Function::Receiver.slug()),
        format!("{}-throttles", Function::Receiver.slug()),
        format!("{}-errors", Function::Processor.slug()),
        format!("{}-errors", Function::Audit.slug()),
    ]
}

/// The trigger alarms' names for `stack` under `suffix`.
pub fn trigger_names(stack: &Stack, suffix: &str) -> Vec<String> {
    let n = Names::new(&stack.name, suffix);
    trigger_slugs().iter().map(|s| n.alarm(s)).collect()
}

/// One alarm as CloudWatch describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlarmState {
    /// Its name.
    pub name: String,
    /// Its ARN (a trigger names it).
    pub arn: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
}

/// What the deploy sends, and what it says about the alarms it left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Triggers {
    /// The alarms' ARNs sent as triggers.
    pub arns: Vec<String>,
    /// Monitoring time after the update, minutes.
    pub monitoring_minutes: u64,
    /// Alarms left out, each with why.
    pub left_out: Vec<(String, String)>,
    /// Alarms already in ALARM (the deploy stops unless told to leave them out).
    pub firing: Vec<String>,
}

/// Decides the triggers from the `wanted` alarm names and what CloudWatch has (`found`): an
/// alarm that does not exist is left out (naming it would fail the update: a stack made before
/// the alarm, or a first deploy); one in ALARM is listed as firing, and left out only when
/// `despite_alarms` (an update would otherwise roll back at once for a fault it did not cause).
pub fn decide(
    wanted: &[String],
    found: &[AlarmState],
    monitoring_minutes: u64,
    despite_alarms: bool,
) -> Triggers {
    let mut t = Triggers {
        monitoring_minutes,
        ..Triggers::default()
    };
    for name in wanted {
        match found.iter().find(|a| &a.name == name) {
            None => t
                .left_out
                .push((name.clone(), "the alarm does not exist yet".into())),
            Some(a) if a.state == "ALARM" => {
                t.firing.push(name.clone());
                if despite_alarms {
                    t.left_out.push((
                        name.clone(),
                        "in ALARM before the deploy (--despite-alarms)".into(),
                    ));
                } else {
                    t.arns.push(a.arn.clone());
                }
            }
            Some(a) => t.arns.push(a.arn.clone()),
        }
    }
    t
}

impl Triggers {
    /// The configuration CreateChangeSet, CreateStack and UpdateStack take: always the whole
    /// list (an empty one clears triggers an earlier deploy left).
    pub fn configuration(&self) -> RollbackConfiguration {
        RollbackConfiguration::builder()
            .set_rollback_triggers(Some(
                self.arns
                    .iter()
                    .map(|arn| {
                        RollbackTrigger::builder()
                            .arn(arn)
                            .r#type("AWS::CloudWatch::Alarm")
                            .build()
                    })
                    .collect(),
            ))
            .monitoring_time_in_minutes(i32::try_from(self.monitoring_minutes).unwrap_or(i32::MAX))
            .build()
    }
}

/// The alarms named `names` that exist, with their state (DescribeAlarms, up to 100 names).
pub async fn read(
    sdk: &aws_config::SdkConfig,
    names: &[String],
) -> Result<Vec<AlarmState>, DeployError> {
    let cw = aws_sdk_cloudwatch::Client::new(sdk);
    let out = cw
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .send()
        .await
        .map_err(|e| aws_error("CloudWatch DescribeAlarms", e))?;
    Ok(out
        .metric_alarms()
        .iter()
        .map(|a| AlarmState {
            name: a.alarm_name().unwrap_or_default().to_owned(),
            arn: a.alarm_arn().unwrap_or_default().to_owned(),
            state: a
                .state_value()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
        })
        .collect())
}

/// The rollback triggers a deploy sets, and why.
#[derive(Debug)]
pub enum Planned {
    /// None: `--no-rollback-triggers`.
    Off(Triggers),
    /// None: a first deploy (the alarms come with the stack).
    FirstDeploy(Triggers),
    /// The trigger alarms that exist; those already in ALARM are in `firing`.
    Set(Triggers),
    /// The alarms could not be read against an emulator (moto): the stack's triggers are left
    /// as they are.
    Skipped(DeployError),
}

/// What the deploy's options ask of the triggers.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// How long CloudFormation watches the alarms after the update.
    pub monitoring_minutes: u64,
    /// `--no-rollback-triggers`.
    pub off: bool,
    /// `--despite-alarms`: alarms already in ALARM are left out rather than stopping.
    pub despite_alarms: bool,
}

/// Decides a deploy's triggers: none when turned off or on a first deploy (`create`); on an
/// update, the trigger alarms of `stack` under `suffix` that exist.
pub async fn plan(
    sdk: &aws_config::SdkConfig,
    stack: &Stack,
    suffix: &str,
    options: Options,
    create: bool,
    emulated: bool,
) -> Result<Planned, DeployError> {
    let Options {
        monitoring_minutes,
        off,
        despite_alarms,
    } = options;
    let none = Triggers {
        monitoring_minutes,
        ..Triggers::default()
    };
    if off {
        return Ok(Planned::Off(none));
    }
    if create {
        return Ok(Planned::FirstDeploy(none));
    }
    let wanted = trigger_names(stack, suffix);
    match read(sdk, &wanted).await {
        Ok(found) => Ok(Planned::Set(decide(
            &wanted,
            &found,
            monitoring_minutes,
            despite_alarms,
        ))),
        Err(e) if emulated => Ok(Planned::Skipped(e)),
        Err(e) => Err(DeployError::Preflight(format!(
            "{e}; the rollback triggers need cloudwatch:DescribeAlarms"
        ))),
    }
}

/// Why a deploy stops when rollback-trigger alarms are firing, and the way on.
pub fn firing_message(firing: &[String]) -> String {
    let many = firing.len() > 1;
    format!(
        "rollback trigger{} {} {} in ALARM already, so the update would roll back at once. \
         Fix what {} first, or pass --despite-alarms to deploy with {} left out of the triggers.",
        if many { "s" } else { "" },
        firing.join(", "),
        if many { "are" } else { "is" },
        if many { "they measure" } else { "it measures" },
        if many { "them" } else { "it" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(name: &str, s: &str) -> AlarmState {
        AlarmState {
            name: name.into(),
            arn: format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}"),
            state: s.into(),
        }
    }

    #[test]
    fn five_triggers_at_most_and_none_anyone_outside_can_trip() {
        let slugs = trigger_slugs();
        assert_eq!(
            slugs.len(),
            5,
            "CloudFormation takes at most 5 rollback triggers"
        );
        for outside in ["signature-failures", "waf-blocked", "dlq-depth"] {
            assert!(!slugs.iter().any(|s| s == outside), "{outside}");
        }
        assert_eq!(
            slugs,
            [
                "api-5xx",
                "receiver-errors",
                "receiver-throttles",
                "processor-errors",
                "audit-errors"
            ]
        );
    }

    #[test]
    fn missing_alarms_are_left_out_and_firing_ones_stop_unless_told() {
        let wanted: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let found = [state("a", "OK"), state("b", "ALARM")];
        let t = decide(&wanted, &found, 5, false);
        assert_eq!(t.arns.len(), 2, "a and b (firing: the deploy stops on it)");
        assert_eq!(t.firing, ["b"]);
        assert_eq!(
            t.left_out,
            [("c".to_owned(), "the alarm does not exist yet".to_owned())]
        );
        let t = decide(&wanted, &found, 5, true);
        assert_eq!(t.arns, [found[0].arn.clone()]);
        assert_eq!(t.left_out.len(), 2);
    }

    #[test]
    fn the_configuration_carries_every_trigger_and_the_monitoring_time() {
        let t = decide(
            &["a".to_owned()],
            &[state("a", "INSUFFICIENT_DATA")],
            5,
            false,
        );
        let c = t.configuration();
        assert_eq!(c.monitoring_time_in_minutes(), Some(5));
        assert_eq!(c.rollback_triggers().len(), 1);
        assert_eq!(
            c.rollback_triggers()[0].r#type(),
            Some("AWS::CloudWatch::Alarm")
        );
        // None: still an explicit empty list, which clears an earlier deploy's triggers.
        let empty = Triggers::default().configuration();
        assert!(empty.rollback_triggers.is_some());
    }
}
