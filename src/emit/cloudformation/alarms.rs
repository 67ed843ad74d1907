//! CloudWatch alarms, all notifying the alert topic (on alarm and on recovery).

use serde_json::{Value, json};

use super::exceptions::{GUARD_ALERT_FAILURE_ALARM, attach};
use super::{Template, functions::function_id, ids, pascal_id, r, resource, sub};
use crate::ir::AlarmMetric;

pub(super) fn emit(t: &mut Template) {
    let n = t.names.clone();
    for alarm in t.stack.alarms.clone() {
        let (namespace, metric, dimensions, statistic) = metric(t, alarm.metric);
        // Alerts that SNS could not deliver are e-mails that failed: notifying the same topic
        // would send the news down the path that just failed. That alarm has no action; it shows
        // in CloudWatch and in `wh status`, which lists every alarm in ALARM.
        let silent = alarm.metric == AlarmMetric::AlertFailureDepth;
        let actions = if silent {
            json!([])
        } else {
            json!([r(ids::ALERT_TOPIC)])
        };
        let mut alarm_resource = resource(
            "AWS::CloudWatch::Alarm",
            json!({
                "AlarmName": sub(n.alarm(&alarm.slug)),
                "AlarmDescription": alarm.description,
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": dimensions,
                "Statistic": statistic,
                "Period": alarm.period_secs,
                "EvaluationPeriods": 1,
                "Threshold": alarm.threshold,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": actions,
                "OKActions": actions,
            }),
        );
        if silent {
            attach(&mut alarm_resource, &[GUARD_ALERT_FAILURE_ALARM]);
        }
        t.add(format!("{}Alarm", pascal_id(&alarm.slug)), alarm_resource);
    }
}

/// Namespace, metric name, dimensions and statistic of what an alarm watches.
fn metric(t: &Template, m: AlarmMetric) -> (Value, &'static str, Value, &'static str) {
    let dim = |name: &str, value: Value| json!({ "Name": name, "Value": value });
    let queue = |id: &str| json!([dim("QueueName", super::att(id, "QueueName"))]);
    let function = |f| json!([dim("FunctionName", r(&function_id(f)))]);
    match m {
        AlarmMetric::DlqDepth => (
            json!("AWS/SQS"),
            "ApproximateNumberOfMessagesVisible",
            queue(ids::DEAD_LETTER_QUEUE),
            "Maximum",
        ),
        AlarmMetric::AuditFailureDepth => (
            json!("AWS/SQS"),
            "ApproximateNumberOfMessagesVisible",
            queue(ids::AUDIT_FAILURE_QUEUE),
            "Maximum",
        ),
        AlarmMetric::AlertFailureDepth => (
            json!("AWS/SQS"),
            "ApproximateNumberOfMessagesVisible",
            queue(ids::ALERT_FAILURE_QUEUE),
            "Maximum",
        ),
        AlarmMetric::FunctionErrors(f) => (json!("AWS/Lambda"), "Errors", function(f), "Sum"),
        AlarmMetric::FunctionThrottles(f) => (json!("AWS/Lambda"), "Throttles", function(f), "Sum"),
        AlarmMetric::Api5xx => (
            json!("AWS/ApiGateway"),
            "5XXError",
            json!([
                dim("ApiName", sub(t.names.rest_api())),
                dim("Stage", json!(t.stack.stage))
            ]),
            "Sum",
        ),
        AlarmMetric::StreamIteratorAge => (
            json!("AWS/Lambda"),
            "IteratorAge",
            function(crate::ir::names::Function::Audit),
            "Maximum",
        ),
        AlarmMetric::WafBlocked => (
            json!("AWS/WAFV2"),
            "BlockedRequests",
            json!([
                dim("WebACL", sub(t.names.web_acl())),
                dim("Region", sub("${AWS::Region}")),
                dim("Rule", json!("ALL")),
            ]),
            "Sum",
        ),
        AlarmMetric::SignatureFailures => (
            sub(t.names.metrics_namespace()),
            "SignatureFailures",
            json!([dim("Stack", sub(t.names.stack()))]),
            "Sum",
        ),
    }
}
