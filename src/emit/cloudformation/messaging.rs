//! SQS queues, the SNS alert topic and the EventBridge bus, with their resource policies.
//!
//! Queue and topic policies deny any request not made over TLS; the topic policy also lets
//! this stack's alarms publish (a topic policy replaces SNS's default one, which allowed that).
//! Every asynchronous failure path ends in a queue: the DLQ (processing), the audit-failures
//! queue (stream batches), the alert-failures queue (undeliverable alerts).

use serde_json::{Value, json};

use super::exceptions::{END_OF_FAILURE_PATH, GUARD_END_OF_FAILURE_PATH, attach};
use super::{Template, arn, att, ids, r, resource, sub};

pub(super) fn emit(t: &mut Template) {
    let q = t.stack.queues;
    let n = t.names.clone();

    // The DLQ only accepts redrives from the processing queue. Its ARN is written out rather
    // than referenced: the processing queue already references the DLQ, and a reference back
    // would be a cycle.
    let dlq = queue(
        t,
        &n.dead_letter_queue(),
        q.dlq_retention_secs,
        json!({
            "RedriveAllowPolicy": {
                "redrivePermission": "byQueue",
                "sourceQueueArns": [arn("sqs", &n.processing_queue())],
            },
        }),
    );
    t.add(ids::DEAD_LETTER_QUEUE, dlq);

    let processing = queue(
        t,
        &n.processing_queue(),
        q.retention_secs,
        json!({
            "VisibilityTimeout": q.visibility_secs,
            "RedrivePolicy": {
                "deadLetterTargetArn": att(ids::DEAD_LETTER_QUEUE, "Arn"),
                "maxReceiveCount": q.max_receive_count,
            },
        }),
    );
    t.add(ids::PROCESSING_QUEUE, processing);

    let audit_failures = queue(t, &n.audit_failure_queue(), q.dlq_retention_secs, json!({}));
    t.add(ids::AUDIT_FAILURE_QUEUE, audit_failures);
    let alert_failures = queue(t, &n.alert_failure_queue(), q.dlq_retention_secs, json!({}));
    t.add(ids::ALERT_FAILURE_QUEUE, alert_failures);
    for id in [
        ids::DEAD_LETTER_QUEUE,
        ids::AUDIT_FAILURE_QUEUE,
        ids::ALERT_FAILURE_QUEUE,
    ] {
        if let Some(queue) = t.resource_mut(id) {
            // Control Tower's rule knows a queue named in a redrive policy as a DLQ; the
            // failure queues are destinations of an event source and a subscription instead.
            let guard: &[_] = if id == ids::DEAD_LETTER_QUEUE {
                &[]
            } else {
                &[GUARD_END_OF_FAILURE_PATH]
            };
            attach(queue, &[END_OF_FAILURE_PATH]);
            attach(queue, guard);
        }
    }

    for id in [
        ids::PROCESSING_QUEUE,
        ids::DEAD_LETTER_QUEUE,
        ids::AUDIT_FAILURE_QUEUE,
        ids::ALERT_FAILURE_QUEUE,
    ] {
        let mut statements = vec![deny_insecure_transport("sqs:*", att(id, "Arn"))];
        if id == ids::ALERT_FAILURE_QUEUE {
            statements.push(json!({
                "Sid": "AlertTopicDeadLetters",
                "Effect": "Allow",
                "Principal": { "Service": "sns.amazonaws.com" },
                "Action": "sqs:SendMessage",
                "Resource": att(id, "Arn"),
                "Condition": { "ArnEquals": { "aws:SourceArn": r(ids::ALERT_TOPIC) } },
            }));
        }
        t.add(
            format!("{id}Policy"),
            resource(
                "AWS::SQS::QueuePolicy",
                json!({
                    "Queues": [r(id)],
                    "PolicyDocument": { "Version": "2012-10-17", "Statement": statements },
                }),
            ),
        );
    }

    t.add(
        ids::ALERT_TOPIC,
        resource(
            "AWS::SNS::Topic",
            json!({
                "TopicName": sub(n.alert_topic()),
                "DisplayName": sub(format!("{} alerts", n.stack())),
                "KmsMasterKeyId": att(ids::KEY, "Arn"),
            }),
        ),
    );
    t.add(
        "AlertTopicPolicy",
        resource(
            "AWS::SNS::TopicPolicy",
            json!({
                "Topics": [r(ids::ALERT_TOPIC)],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "ThisStacksAlarmsPublish",
                            "Effect": "Allow",
                            "Principal": { "Service": "cloudwatch.amazonaws.com" },
                            "Action": "sns:Publish",
                            "Resource": r(ids::ALERT_TOPIC),
                            "Condition": {
                                "StringEquals": { "aws:SourceAccount": sub("${AWS::AccountId}") },
                                "ArnLike": { "aws:SourceArn": arn("cloudwatch", &format!("alarm:{}", n.alarm("*"))) },
                            },
                        },
                        deny_insecure_transport("sns:Publish", r(ids::ALERT_TOPIC)),
                    ],
                },
            }),
        ),
    );
    for (i, email) in t.stack.alerts.emails.clone().iter().enumerate() {
        t.add(
            format!("AlertEmail{i}"),
            resource(
                "AWS::SNS::Subscription",
                json!({
                    "TopicArn": r(ids::ALERT_TOPIC),
                    "Protocol": "email",
                    "Endpoint": email,
                    "RedrivePolicy": { "deadLetterTargetArn": att(ids::ALERT_FAILURE_QUEUE, "Arn") },
                }),
            ),
        );
    }

    t.add(
        ids::EVENT_BUS,
        resource(
            "AWS::Events::EventBus",
            json!({
                "Name": sub(n.event_bus()),
                "Description": sub(format!("Normalised payment events of {}: subscribe your business logic here", n.stack())),
                "KmsKeyIdentifier": att(ids::KEY, "Arn"),
            }),
        ),
    );
}

/// A KMS-encrypted queue with `specific` properties added.
fn queue(t: &Template, name: &str, retention_secs: u64, specific: Value) -> Value {
    let mut properties = json!({
        "QueueName": sub(name),
        "MessageRetentionPeriod": retention_secs,
        "KmsMasterKeyId": att(ids::KEY, "Arn"),
        "KmsDataKeyReusePeriodSeconds": 300,
    });
    if let (Some(target), Value::Object(extra)) = (properties.as_object_mut(), specific) {
        target.extend(extra);
    }
    t.stateful("AWS::SQS::Queue", properties)
}

/// A policy statement refusing requests made without TLS.
pub(super) fn deny_insecure_transport(action: &str, resource: Value) -> Value {
    json!({
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": resource,
        "Condition": { "Bool": { "aws:SecureTransport": "false" } },
    })
}
