//! The CloudFormation emitter: [`Stack`] -> `template.json`.
//!
//! One file per group of resources. Every function here is pure; the output is built in a fixed
//! order with insertion-ordered JSON maps, so the same model always gives the same bytes.

mod alarms;
mod api;
pub mod exceptions;
mod functions;
mod kms;
mod messaging;
pub mod outputs;
mod secrets;
mod storage;
pub mod waf;

use serde_json::{Map, Value, json};

use crate::ir::Stack;
use crate::ir::names::{MAX_SUFFIX_LEN, Names, SUFFIX_PATTERN};

/// The suffix as the template spells it inside `Fn::Sub`.
pub const SUFFIX_REF: &str = "${EnvironmentSuffix}";

/// Logical ids that other modules refer to.
pub mod ids {
    /// The customer-managed key.
    pub const KEY: &str = "EncryptionKey";
    /// The webhook table.
    pub const WEBHOOK_TABLE: &str = "WebhookTable";
    /// The audit table.
    pub const AUDIT_TABLE: &str = "AuditTable";
    /// The processing queue.
    pub const PROCESSING_QUEUE: &str = "ProcessingQueue";
    /// The dead-letter queue.
    pub const DEAD_LETTER_QUEUE: &str = "DeadLetterQueue";
    /// The audit logger's on-failure destination.
    pub const AUDIT_FAILURE_QUEUE: &str = "AuditFailureQueue";
    /// Where SNS keeps alerts it could not deliver.
    pub const ALERT_FAILURE_QUEUE: &str = "AlertFailureQueue";
    /// The alert topic.
    pub const ALERT_TOPIC: &str = "AlertTopic";
    /// The event bus.
    pub const EVENT_BUS: &str = "EventBus";
    /// The REST API.
    pub const REST_API: &str = "RestApi";
    /// The API stage.
    pub const STAGE: &str = "ApiStage";
    /// The web ACL.
    pub const WEB_ACL: &str = "WebAcl";
}

/// A template under construction.
pub(crate) struct Template<'a> {
    pub stack: &'a Stack,
    /// Names with the suffix as `${EnvironmentSuffix}`: wrap them in [`sub`].
    pub names: Names,
    resources: Map<String, Value>,
    outputs: Map<String, Value>,
}

impl<'a> Template<'a> {
    /// Adds a resource under `id`.
    pub fn add(&mut self, id: impl Into<String>, resource: Value) {
        self.resources.insert(id.into(), resource);
    }

    /// A resource added earlier.
    pub fn resource(&self, id: &str) -> Option<&Value> {
        self.resources.get(id)
    }

    /// A resource added earlier, to amend.
    pub fn resource_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.resources.get_mut(id)
    }

    /// Adds an output under `key`, exported as `<StackName>-<key>`.
    pub fn output(&mut self, key: &str, description: &str, value: Value) {
        self.outputs.insert(
            key.to_owned(),
            json!({
                "Description": description,
                "Value": value,
                "Export": { "Name": sub(format!("${{AWS::StackName}}-{key}")) },
            }),
        );
    }

    /// A resource that holds data: kept on deletion and replacement when the spec says `retain`.
    pub fn stateful(&self, ty: &str, properties: Value) -> Value {
        let policy = if self.stack.retains() {
            "Retain"
        } else {
            "Delete"
        };
        json!({
            "Type": ty,
            "DeletionPolicy": policy,
            "UpdateReplacePolicy": policy,
            "Properties": properties,
        })
    }

    /// A log group of this stack named `name` (a template value): the spec's retention, the
    /// stack's key, and the written exception when the retention is under a year.
    pub fn log_group(&self, name: Value) -> Value {
        let mut group = self.stateful(
            "AWS::Logs::LogGroup",
            json!({
                "LogGroupName": name,
                "RetentionInDays": self.stack.retention.log_days,
                "KmsKeyId": att(ids::KEY, "Arn"),
            }),
        );
        if self.stack.retention.log_days < MIN_GUARD_LOG_DAYS {
            exceptions::attach(&mut group, &[exceptions::GUARD_LOG_RETENTION]);
        }
        group
    }
}

/// Control Tower's CT.CLOUDWATCH.PR.2 asks for log groups kept at least 365 days.
const MIN_GUARD_LOG_DAYS: u64 = 365;

/// A resource with no data of its own.
pub(crate) fn resource(ty: &str, properties: Value) -> Value {
    json!({ "Type": ty, "Properties": properties })
}

/// `{"Fn::Sub": s}`.
pub(crate) fn sub(s: impl Into<String>) -> Value {
    json!({ "Fn::Sub": s.into() })
}

/// `{"Ref": id}`.
pub(crate) fn r(id: &str) -> Value {
    json!({ "Ref": id })
}

/// `{"Fn::GetAtt": [id, attribute]}`.
pub(crate) fn att(id: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attribute] })
}

/// The ARN of a resource in this stack's account and region, by service and path.
pub(crate) fn arn(service: &str, path: &str) -> Value {
    sub(format!(
        "arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{path}"
    ))
}

/// A number as JSON: whole values as integers, so `1000.0` is written `1000`.
pub(crate) fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// Builds the whole template for `stack`. `spec_label` names the spec it came from.
pub fn template(stack: &Stack, spec_label: &str) -> Value {
    let mut t = Template {
        stack,
        names: Names::new(&stack.name, SUFFIX_REF),
        resources: Map::new(),
        outputs: Map::new(),
    };
    kms::emit(&mut t);
    storage::emit(&mut t);
    messaging::emit(&mut t);
    secrets::emit(&mut t);
    functions::emit(&mut t);
    api::emit(&mut t);
    waf::emit(&mut t);
    alarms::emit(&mut t);
    outputs::emit(&mut t);

    let Template {
        resources, outputs, ..
    } = t;
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "Payment-webhook ingestion stack {} (generated by wh {} from {spec_label}; edit the spec, not this file)",
            stack.name,
            env!("CARGO_PKG_VERSION"),
        ),
        "Parameters": parameters(stack),
        "Resources": resources,
        "Outputs": outputs,
    })
}

fn parameters(stack: &Stack) -> Value {
    let mut suffix = json!({
        "Type": "String",
        "Description": "Environment suffix carried by every physical name (prod, dev, pr-42)",
        "Default": stack.default_suffix,
        "AllowedPattern": SUFFIX_PATTERN,
        "MaxLength": MAX_SUFFIX_LEN,
        "ConstraintDescription": format!("1 to {MAX_SUFFIX_LEN} lowercase letters, digits and inner hyphens"),
    });
    if stack.retains() {
        // A retained stack leaves named resources behind when deleted; only its own suffix may
        // use it, so a PR environment can never orphan production-style resources.
        suffix["AllowedValues"] = json!([stack.default_suffix]);
    }
    let code_key = |f: &str| {
        json!({
            "Type": "String",
            "Description": format!("S3 key of the {f} function's zip in ArtifactBucket (filled by wh deploy)"),
            "MinLength": 1,
        })
    };
    json!({
        "EnvironmentSuffix": suffix,
        "ArtifactBucket": {
            "Type": "String",
            "Description": "S3 bucket holding the function zips (created by wh bootstrap)",
            "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        },
        "ReceiverCodeKey": code_key("receiver"),
        "ProcessorCodeKey": code_key("processor"),
        "AuditCodeKey": code_key("audit"),
    })
}

/// Serializes a template the way it is committed: two-space indent, trailing newline.
pub fn render(template: &Value) -> String {
    let mut text = serde_json::to_string_pretty(template).unwrap_or_default();
    text.push('\n');
    text
}

/// A logical id from a slug: `dlq-depth` -> `DlqDepth`, `api-5xx` -> `Api5xx`.
pub(crate) fn pascal_id(slug: &str) -> String {
    crate::ir::pascal(slug)
}
