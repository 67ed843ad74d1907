//! The template's security posture, item by item, and the written scanner exceptions.

mod common;

use common::{repo_template, resource, resources};
use serde_json::json;
use wh::emit::cloudformation::exceptions::{ALL, Scanner};

const KEY_ARN: &str = r#"{"Fn::GetAtt":["EncryptionKey","Arn"]}"#;

#[test]
fn everything_that_stores_or_carries_data_uses_the_stacks_key() {
    let t = repo_template("prod");
    let key: serde_json::Value = serde_json::from_str(KEY_ARN).unwrap();
    for (id, g) in resources(&t, "AWS::Logs::LogGroup") {
        assert_eq!(g["Properties"]["KmsKeyId"], key, "{id}");
    }
    for (id, f) in resources(&t, "AWS::Lambda::Function") {
        assert_eq!(
            f["Properties"]["KmsKeyArn"], key,
            "{id}: environment encrypted"
        );
    }
    for (id, q) in resources(&t, "AWS::SQS::Queue") {
        assert_eq!(q["Properties"]["KmsMasterKeyId"], key, "{id}");
    }
    for (id, table) in resources(&t, "AWS::DynamoDB::Table") {
        assert_eq!(
            table["Properties"]["SSESpecification"]["KMSMasterKeyId"], key,
            "{id}"
        );
        assert_eq!(
            table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
            true,
            "{id}"
        );
    }
}

#[test]
fn queues_and_the_topic_refuse_requests_without_tls() {
    let t = repo_template("prod");
    let deny = |policy: &serde_json::Value| {
        policy["Statement"].as_array().unwrap().iter().any(|s| {
            s["Effect"] == "Deny"
                && s["Principal"] == "*"
                && s["Condition"] == json!({ "Bool": { "aws:SecureTransport": "false" } })
        })
    };
    let queues = resources(&t, "AWS::SQS::Queue");
    let policies = resources(&t, "AWS::SQS::QueuePolicy");
    assert_eq!(policies.len(), queues.len(), "one policy per queue");
    for (id, p) in policies {
        assert!(deny(&p["Properties"]["PolicyDocument"]), "{id}");
    }
    assert!(deny(
        &resource(&t, "AlertTopicPolicy")["Properties"]["PolicyDocument"]
    ));
}

#[test]
fn every_asynchronous_failure_path_ends_in_an_alarmed_queue() {
    let t = repo_template("prod");
    // processing -> DLQ
    assert_eq!(
        resource(&t, "ProcessingQueue")["Properties"]["RedrivePolicy"]["deadLetterTargetArn"],
        json!({ "Fn::GetAtt": ["DeadLetterQueue", "Arn"] })
    );
    // stream batches -> audit-failures
    assert_eq!(
        resource(&t, "AuditEventSource")["Properties"]["DestinationConfig"]["OnFailure"]["Destination"],
        json!({ "Fn::GetAtt": ["AuditFailureQueue", "Arn"] })
    );
    // undeliverable alerts -> alert-failures, which SNS may write to and decrypt for
    for (id, s) in resources(&t, "AWS::SNS::Subscription") {
        assert_eq!(
            s["Properties"]["RedrivePolicy"]["deadLetterTargetArn"],
            json!({ "Fn::GetAtt": ["AlertFailureQueue", "Arn"] }),
            "{id}"
        );
    }
    let policy = serde_json::to_string(&resource(&t, "AlertFailureQueuePolicy")).unwrap();
    assert!(
        policy.contains(r#""Service":"sns.amazonaws.com""#)
            && policy.contains(r#""aws:SourceArn":{"Ref":"AlertTopic"}"#),
        "{policy}"
    );
    let key =
        serde_json::to_string(&resource(&t, "EncryptionKey")["Properties"]["KeyPolicy"]).unwrap();
    assert!(key.contains("AlertTopicDeadLettersToEncryptedQueue"));
    for alarm in [
        "DlqDepthAlarm",
        "AuditFailuresDepthAlarm",
        "AlertFailuresDepthAlarm",
    ] {
        assert_eq!(
            resource(&t, alarm)["Properties"]["MetricName"],
            "ApproximateNumberOfMessagesVisible"
        );
    }
}

#[test]
fn the_stage_logs_every_request_as_json_to_an_encrypted_group() {
    let t = repo_template("prod");
    let stage = &resource(&t, "ApiStage")["Properties"];
    let destination = stage["AccessLogSetting"]["DestinationArn"]["Fn::Sub"]
        .as_str()
        .unwrap();
    assert!(
        destination.ends_with(":log-group:/aws/apigateway/payments-access-${EnvironmentSuffix}"),
        "{destination}"
    );
    assert!(
        serde_json::from_str::<serde_json::Value>(
            stage["AccessLogSetting"]["Format"].as_str().unwrap()
        )
        .is_ok()
    );
    assert_eq!(stage["MethodSettings"][0]["LoggingLevel"], "ERROR");
}

#[test]
fn waf_runs_managed_rules_with_overrides_for_webhook_bodies() {
    let t = repo_template("prod");
    let rules = resource(&t, "WebAcl")["Properties"]["Rules"]
        .as_array()
        .unwrap()
        .clone();
    let names: Vec<&str> = rules.iter().map(|r| r["Name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "per-ip-rate",
            "AWSManagedRulesCommonRuleSet",
            "AWSManagedRulesKnownBadInputsRuleSet"
        ]
    );
    let common = &rules[1]["Statement"]["ManagedRuleGroupStatement"];
    assert_eq!(common["VendorName"], "AWS");
    let overridden: Vec<&str> = common["RuleActionOverrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        overridden,
        ["SizeRestrictions_BODY", "CrossSiteScripting_BODY"]
    );
    for o in common["RuleActionOverrides"].as_array().unwrap() {
        assert_eq!(o["ActionToUse"], json!({ "Count": {} }));
    }
    assert_eq!(rules[1]["OverrideAction"], json!({ "None": {} }));
}

#[test]
fn the_spec_can_turn_managed_rules_off() {
    let t = common::compile_text(
        &(common::BASE.to_owned() + "waf:\n  managed_rules: [known-bad-inputs]\n"),
    )
    .unwrap();
    let rules = resource(&t, "WebAcl")["Properties"]["Rules"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[1]["Name"], "AWSManagedRulesKnownBadInputsRuleSet");
    let off =
        common::compile_text(&(common::BASE.to_owned() + "waf:\n  managed_rules: []\n")).unwrap();
    let acl = resource(&off, "WebAcl");
    assert_eq!(acl["Properties"]["Rules"].as_array().unwrap().len(), 1);
    assert_eq!(
        acl["Metadata"]["checkov"]["skip"][0]["id"], "CKV_AWS_192",
        "turning Log4j protection off is a written exception"
    );
    let e =
        common::errors(&(common::BASE.to_owned() + "waf:\n  managed_rules: [common, common]\n"));
    assert!(
        e.contains("spec.yaml:25:27: error: waf.managed_rules: `common` is listed twice"),
        "{e}"
    );
}

#[test]
fn every_written_exception_has_its_reason_and_is_known() {
    for env in ["prod", "dev"] {
        let t = repo_template(env);
        let mut written = 0;
        for (id, r) in t["Resources"].as_object().unwrap() {
            for skip in r["Metadata"]["checkov"]["skip"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let known = ALL
                    .iter()
                    .find(|e| e.id == skip["id"] && e.reason == skip["comment"]);
                assert!(known.is_some(), "{env} {id}: {skip}");
                written += 1;
            }
            // cfn-lint ignores and cfn-guard suppressions keep their reasons beside them.
            for (ids, reasons) in [
                (
                    &r["Metadata"]["cfn-lint"]["config"]["ignore_checks"],
                    "cfn-lint-exceptions",
                ),
                (
                    &r["Metadata"]["guard"]["SuppressedRules"],
                    "cfn-guard-exceptions",
                ),
            ] {
                for check in ids.as_array().into_iter().flatten() {
                    let reason = &r["Metadata"]["wh"][reasons][check.as_str().unwrap()];
                    assert!(
                        ALL.iter().any(|e| e.id == check && e.reason == reason),
                        "{env} {id}: {check} without its reason"
                    );
                    written += 1;
                }
            }
        }
        // 15 for checkov and cfn-lint; 13 for Control Tower: 3 functions outside a VPC, 6 log
        // groups under a year, the receiver's permission, 2 failure queues, the alert-failures
        // alarm without an action.
        assert_eq!(written, 28, "{env}");
    }
}

#[test]
fn the_docs_list_every_exception_and_its_reason() {
    let readme = std::fs::read_to_string(common::repo().join("docs/template.md")).unwrap();
    for e in ALL {
        let scanner = match e.scanner {
            Scanner::Checkov => "checkov",
            Scanner::CfnLint => "cfn-lint",
            Scanner::CfnGuard => "Control Tower, cfn-guard",
        };
        let row = format!(
            "| `{}` ({scanner}) | {} | {} |",
            e.id, e.applies_to, e.reason
        );
        assert!(
            readme.contains(&row),
            "docs/template.md lacks the row:\n{row}"
        );
    }
}
