//! The compiled template, asserted by value: every requirement of the stack.

mod common;

use common::{repo_template, resource, resources};
use serde_json::{Value, json};

/// Properties that hold a physical name, by resource type.
const NAME_PROPERTIES: &[(&str, &str)] = &[
    ("AWS::KMS::Alias", "AliasName"),
    ("AWS::DynamoDB::Table", "TableName"),
    ("AWS::SQS::Queue", "QueueName"),
    ("AWS::SNS::Topic", "TopicName"),
    ("AWS::Events::EventBus", "Name"),
    ("AWS::SecretsManager::Secret", "Name"),
    ("AWS::Lambda::Function", "FunctionName"),
    ("AWS::IAM::Role", "RoleName"),
    ("AWS::Logs::LogGroup", "LogGroupName"),
    ("AWS::ApiGateway::RestApi", "Name"),
    ("AWS::WAFv2::WebACL", "Name"),
    ("AWS::WAFv2::IPSet", "Name"),
    ("AWS::CloudWatch::Alarm", "AlarmName"),
];

/// Types whose every instance must carry a name property from the list above.
#[test]
fn every_physical_name_carries_the_suffix_parameter() {
    for env in ["prod", "dev"] {
        let t = repo_template(env);
        let mut seen = 0;
        for (id, r) in t["Resources"].as_object().unwrap() {
            let ty = r["Type"].as_str().unwrap();
            if let Some((_, prop)) = NAME_PROPERTIES.iter().find(|(t, _)| *t == ty) {
                let name = r["Properties"][prop]["Fn::Sub"]
                    .as_str()
                    .unwrap_or_else(|| {
                        panic!(
                            "{env} {id}.{prop} is not a Fn::Sub: {}",
                            r["Properties"][prop]
                        )
                    });
                // The one name AWS chooses, the execution-log group, carries the API's id,
                // which is unique to the stack.
                assert!(
                    name.contains("${EnvironmentSuffix}") || name.contains("${RestApi}"),
                    "{env} {id}: {name}"
                );
                seen += 1;
            }
        }
        assert!(seen >= 30, "{env}: only {seen} named resources");
    }
}

#[test]
fn the_suffix_parameter_is_validated_and_retain_stacks_keep_their_own() {
    let prod = repo_template("prod");
    let p = &prod["Parameters"]["EnvironmentSuffix"];
    assert_eq!(p["Default"], "prod");
    assert_eq!(p["MaxLength"], 20);
    assert_eq!(p["AllowedPattern"], "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$");
    assert_eq!(p["AllowedValues"], json!(["prod"]));
    let dev = repo_template("dev");
    assert!(
        dev["Parameters"]["EnvironmentSuffix"]
            .get("AllowedValues")
            .is_none(),
        "an ephemeral template serves any suffix"
    );
    for code in [
        "ArtifactBucket",
        "ReceiverCodeKey",
        "ProcessorCodeKey",
        "AuditCodeKey",
    ] {
        assert_eq!(prod["Parameters"][code]["Type"], "String");
    }
}

#[test]
fn functions_are_arm64_al2023_traced_reserved_and_encrypted() {
    let t = repo_template("prod");
    let expected = [
        ("Receiver", 200, 256, 10),
        ("Processor", 50, 256, 30),
        ("Audit", 60, 256, 30),
    ];
    for (f, reserved, memory, timeout) in expected {
        let p = &resource(&t, &format!("{f}Function"))["Properties"];
        assert_eq!(p["Runtime"], "provided.al2023");
        assert_eq!(p["Architectures"], json!(["arm64"]));
        assert_eq!(p["Handler"], "bootstrap");
        assert_eq!(
            p["TracingConfig"]["Mode"], "Active",
            "{f}: X-Ray on every function"
        );
        assert_eq!(p["ReservedConcurrentExecutions"], reserved);
        assert_eq!(p["MemorySize"], memory);
        assert_eq!(p["Timeout"], timeout);
        assert_eq!(
            p["KmsKeyArn"],
            json!({ "Fn::GetAtt": ["EncryptionKey", "Arn"] })
        );
        assert_eq!(p["Code"]["S3Bucket"], json!({ "Ref": "ArtifactBucket" }));
        assert_eq!(p["Code"]["S3Key"], json!({ "Ref": format!("{f}CodeKey") }));
        assert_eq!(
            p["LoggingConfig"]["LogGroup"],
            json!({ "Ref": format!("{f}LogGroup") })
        );
        let log = &resource(&t, &format!("{f}LogGroup"))["Properties"];
        assert_eq!(log["RetentionInDays"], 30);
        assert_eq!(
            log["KmsKeyId"],
            json!({ "Fn::GetAtt": ["EncryptionKey", "Arn"] })
        );
    }
}

#[test]
fn handlers_get_every_name_from_the_environment() {
    let t = repo_template("prod");
    let env = &resource(&t, "ReceiverFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(env["WH_WEBHOOK_TABLE"], json!({ "Ref": "WebhookTable" }));
    assert_eq!(
        env["WH_PROCESSING_QUEUE_URL"],
        json!({ "Ref": "ProcessingQueue" })
    );
    for p in ["STRIPE", "SVIX", "GITHUB", "SHOPIFY", "SQUARE", "ACME"] {
        assert!(env.get(format!("WH_SECRET_ARN_{p}")).is_some(), "{p}");
        assert!(env.get(format!("WH_NOTIFICATION_URL_{p}")).is_some(), "{p}");
    }
    // Square signs the URL it posts to: derived from the API unless the spec overrides it.
    assert_eq!(
        env["WH_NOTIFICATION_URL_SQUARE"],
        json!({ "Fn::Sub": "https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/live/webhook/square" })
    );
    // An ephemeral spec's override names each environment: `{suffix}` becomes the parameter,
    // so pr-42's stack signs https://hooks-pr-42.example.com/..., not dev's URL.
    let dev = repo_template("dev");
    let dev_env = &resource(&dev, "ReceiverFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(
        dev_env["WH_NOTIFICATION_URL_SQUARE"],
        json!({ "Fn::Sub": "https://hooks-${EnvironmentSuffix}.example.com/webhook/square" })
    );

    let processor = &resource(&t, "ProcessorFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(processor["WH_EVENT_BUS_NAME"], json!({ "Ref": "EventBus" }));
    assert_eq!(
        processor["WH_ALERT_TOPIC_ARN"],
        json!({ "Ref": "AlertTopic" })
    );
    let audit = &resource(&t, "AuditFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(audit["WH_AUDIT_TABLE"], json!({ "Ref": "AuditTable" }));
}

#[test]
fn the_stage_throttles_traces_and_logs() {
    let t = repo_template("prod");
    let stage = &resource(&t, "ApiStage")["Properties"];
    assert_eq!(stage["StageName"], "live");
    assert_eq!(stage["TracingEnabled"], true);
    let settings = &stage["MethodSettings"][0];
    assert_eq!(settings["ResourcePath"], "/*");
    assert_eq!(settings["HttpMethod"], "*");
    assert_eq!(settings["ThrottlingRateLimit"], 1000);
    assert_eq!(settings["ThrottlingBurstLimit"], 2000);
    let format: Value = serde_json::from_str(stage["AccessLogSetting"]["Format"].as_str().unwrap())
        .expect("access log lines are JSON");
    assert_eq!(format["errorType"], "$context.error.responseType");
    assert_eq!(format["status"], "$context.status");
    assert_eq!(
        resource(&t, "AccessLogGroup")["Properties"]["KmsKeyId"],
        json!({ "Fn::GetAtt": ["EncryptionKey", "Arn"] })
    );
}

#[test]
fn the_api_routes_post_webhook_provider_to_the_receiver() {
    let t = repo_template("prod");
    assert_eq!(
        resource(&t, "WebhookResource")["Properties"]["PathPart"],
        "webhook"
    );
    assert_eq!(
        resource(&t, "ProviderResource")["Properties"]["PathPart"],
        "{provider}"
    );
    let method = &resource(&t, "WebhookMethod")["Properties"];
    assert_eq!(method["HttpMethod"], "POST");
    assert_eq!(method["Integration"]["Type"], "AWS_PROXY");
    assert!(
        method["Integration"]["Uri"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .contains("${ReceiverFunction.Arn}")
    );
    let deployments = resources(&t, "AWS::ApiGateway::Deployment");
    assert_eq!(deployments.len(), 1);
    assert!(deployments[0].0.starts_with("ApiDeployment"));
    assert_eq!(
        resource(&t, "ApiStage")["Properties"]["DeploymentId"],
        json!({ "Ref": deployments[0].0 })
    );
    let permission = &resource(&t, "ReceiverApiPermission")["Properties"];
    assert_eq!(permission["Principal"], "apigateway.amazonaws.com");
    assert!(
        permission["SourceArn"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .ends_with("${RestApi}/live/POST/webhook/*")
    );
}

#[test]
fn the_waf_rule_limits_per_window_with_the_window_explicit() {
    let t = repo_template("prod");
    let acl = &resource(&t, "WebAcl")["Properties"];
    assert_eq!(acl["Scope"], "REGIONAL");
    let rule = acl["Rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Name"] == "per-ip-rate")
        .expect("per-IP rule");
    // The block carries a header of its own, so the load test counts only this rule's 403s
    // (pinned literally: the load test and wh dev send and read the same).
    assert_eq!(
        rule["Action"],
        json!({ "Block": { "CustomResponse": {
            "ResponseCode": 403,
            "ResponseHeaders": [{ "Name": "x-wh-blocked-by", "Value": "per-ip" }],
        } } })
    );
    // WAF's CustomHTTPHeader name pattern and length (API reference).
    let name = "x-wh-blocked-by";
    assert!(
        name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._$-".contains(&b))
    );
    let rate = &rule["Statement"]["RateBasedStatement"];
    assert_eq!(rate["Limit"], 600, "10/s over 60 s");
    assert_eq!(rate["EvaluationWindowSec"], 60);
    assert_eq!(rate["AggregateKeyType"], "IP");
    assert_eq!(
        rate["ScopeDownStatement"],
        json!({ "NotStatement": { "Statement": { "IPSetReferenceStatement": { "Arn": { "Fn::GetAtt": ["ExemptIpSetV4", "Arn"] } } } } })
    );
    assert_eq!(
        resource(&t, "ExemptIpSetV4")["Properties"]["Addresses"],
        json!(["203.0.113.0/24"])
    );
    let assoc = &resource(&t, "WebAclAssociation")["Properties"];
    assert!(
        assoc["ResourceArn"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .ends_with("/restapis/${RestApi}/stages/live")
    );

    // Blocked and counted requests are logged, to a log group WAF accepts (its name and an ARN
    // without `:*`), encrypted with the stack's key; signatures are redacted; allowed traffic
    // is dropped.
    let logs = &resource(&t, "WafLogGroup")["Properties"];
    assert_eq!(
        logs["LogGroupName"]["Fn::Sub"],
        "aws-waf-logs-payments-waf-${EnvironmentSuffix}"
    );
    assert_eq!(
        logs["KmsKeyId"],
        json!({ "Fn::GetAtt": ["EncryptionKey", "Arn"] })
    );
    let logging = &resource(&t, "WafLogging")["Properties"];
    assert_eq!(
        logging["ResourceArn"],
        json!({ "Fn::GetAtt": ["WebAcl", "Arn"] })
    );
    let destination = logging["LogDestinationConfigs"][0]["Fn::Sub"]
        .as_str()
        .unwrap();
    assert!(
        destination.ends_with(":log-group:aws-waf-logs-payments-waf-${EnvironmentSuffix}"),
        "{destination}"
    );
    let redacted: Vec<&str> = logging["RedactedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["SingleHeader"]["Name"].as_str().unwrap())
        .collect();
    for header in [
        "stripe-signature",
        "webhook-signature",
        "x-hub-signature-256",
        "authorization",
    ] {
        assert!(
            redacted.contains(&header),
            "{header} is not redacted: {redacted:?}"
        );
    }
    assert_eq!(logging["LoggingFilter"]["DefaultBehavior"], "DROP");
    // ActionCondition: "EXCLUDED_AS_COUNT matches on excluded rules and also on rules that have
    // a rule action override of Count" (AWS WAF API reference, ActionCondition): the common rule
    // set's two overridden rules log only with it.
    assert_eq!(
        logging["LoggingFilter"]["Filters"][0]["Conditions"],
        json!([
            { "ActionCondition": { "Action": "BLOCK" } },
            { "ActionCondition": { "Action": "COUNT" } },
            { "ActionCondition": { "Action": "EXCLUDED_AS_COUNT" } },
        ])
    );

    // dev: 5/s over 2m, with IPv4 and IPv6 exemptions.
    let dev = repo_template("dev");
    let rule =
        &resource(&dev, "WebAcl")["Properties"]["Rules"][0]["Statement"]["RateBasedStatement"];
    assert_eq!(rule["Limit"], 600);
    assert_eq!(rule["EvaluationWindowSec"], 120);
    let either =
        &rule["ScopeDownStatement"]["NotStatement"]["Statement"]["OrStatement"]["Statements"];
    assert_eq!(either.as_array().unwrap().len(), 2);
    assert_eq!(
        resource(&dev, "ExemptIpSetV6")["Properties"]["IPAddressVersion"],
        "IPV6"
    );
}

#[test]
fn the_queue_sits_between_receiver_and_processor_with_a_dlq() {
    let t = repo_template("prod");
    let q = &resource(&t, "ProcessingQueue")["Properties"];
    assert_eq!(
        q["VisibilityTimeout"],
        6 * 30 + 1,
        "6 x processor timeout + batching window"
    );
    // "at least 5" (Lambda developer guide, SQS as an event source).
    assert_eq!(q["RedrivePolicy"]["maxReceiveCount"], 5);
    assert_eq!(
        q["RedrivePolicy"]["deadLetterTargetArn"],
        json!({ "Fn::GetAtt": ["DeadLetterQueue", "Arn"] })
    );
    assert_eq!(q["MessageRetentionPeriod"], 4 * 86_400);
    let dlq = &resource(&t, "DeadLetterQueue")["Properties"];
    assert_eq!(dlq["MessageRetentionPeriod"], 14 * 86_400);
    for id in ["ProcessingQueue", "DeadLetterQueue", "AuditFailureQueue"] {
        assert_eq!(
            resource(&t, id)["Properties"]["KmsMasterKeyId"],
            json!({ "Fn::GetAtt": ["EncryptionKey", "Arn"] })
        );
    }
    let source = &resource(&t, "ProcessorEventSource")["Properties"];
    assert_eq!(
        source["EventSourceArn"],
        json!({ "Fn::GetAtt": ["ProcessingQueue", "Arn"] })
    );
    assert_eq!(source["BatchSize"], 10);
    assert_eq!(source["MaximumBatchingWindowInSeconds"], 1);
    assert_eq!(
        source["ScalingConfig"]["MaximumConcurrency"], 50,
        "the processor's reserved concurrency"
    );
    assert_eq!(
        source["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    // The receiver may send to the queue.
    let role = serde_json::to_string(&resource(&t, "ReceiverRole")).unwrap();
    assert!(role.contains("sqs:SendMessage"));
}

#[test]
fn the_table_streams_to_the_audit_logger() {
    let t = repo_template("prod");
    for id in ["WebhookTable", "AuditTable"] {
        let p = &resource(&t, id)["Properties"];
        assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
        assert_eq!(p["SSESpecification"]["SSEType"], "KMS");
        assert_eq!(
            p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
            true
        );
        assert_eq!(
            p["TimeToLiveSpecification"],
            json!({ "AttributeName": "expires_at", "Enabled": true })
        );
        assert_eq!(p["DeletionProtectionEnabled"], true, "prod is retained");
    }
    assert_eq!(
        resource(&t, "WebhookTable")["Properties"]["StreamSpecification"]["StreamViewType"],
        "NEW_AND_OLD_IMAGES"
    );
    let source = &resource(&t, "AuditEventSource")["Properties"];
    assert_eq!(
        source["EventSourceArn"],
        json!({ "Fn::GetAtt": ["WebhookTable", "StreamArn"] })
    );
    assert_eq!(source["BisectBatchOnFunctionError"], true);
    assert_eq!(source["MaximumRetryAttempts"], 3);
    // 5,000 stream records/s over about 20 shards (20,000 warm write units / 1,000 a
    // partition) = 250 a shard, at 10 ms a record = 2.5 busy: 3 batches per shard at once.
    assert_eq!(source["ParallelizationFactor"], 3);
    assert_eq!(
        source["DestinationConfig"]["OnFailure"]["Destination"],
        json!({ "Fn::GetAtt": ["AuditFailureQueue", "Arn"] })
    );
}

#[test]
fn the_key_rotates_and_grants_services_scoped_to_this_stack() {
    let t = repo_template("prod");
    let key = &resource(&t, "EncryptionKey")["Properties"];
    assert_eq!(key["EnableKeyRotation"], true);
    let statements = key["KeyPolicy"]["Statement"].as_array().unwrap();
    let by_sid = |sid: &str| {
        statements
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("{sid}"))
    };
    let cloudwatch = by_sid("AlarmsPublishToEncryptedTopic");
    assert_eq!(
        cloudwatch["Principal"]["Service"],
        "cloudwatch.amazonaws.com"
    );
    assert!(
        cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .ends_with(":alarm:payments-*-${EnvironmentSuffix}")
    );
    let logs = by_sid("LogsEncryptThisStacksLogGroups");
    let encrypted = logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]
        .as_array()
        .unwrap();
    // Three functions, the access logs, the execution logs and WAF's logs.
    assert_eq!(encrypted.len(), 6);
    let waf_destination = &resource(&t, "WafLogging")["Properties"]["LogDestinationConfigs"][0];
    assert!(encrypted.contains(waf_destination), "{waf_destination}");
    assert!(
        encrypted.contains(&json!({ "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:API-Gateway-Execution-Logs_${RestApi}/live" })),
        "{encrypted:?}"
    );
    // AWS's key policy for an encrypted bus: DescribeKey on its own, with no condition (a
    // DescribeKey request carries no encryption context), beside the conditioned use.
    assert_eq!(
        by_sid("EventBridgeValidatesTheKey"),
        &json!({
            "Sid": "EventBridgeValidatesTheKey",
            "Effect": "Allow",
            "Principal": { "Service": "events.amazonaws.com" },
            "Action": "kms:DescribeKey",
            "Resource": "*",
        })
    );
    assert!(
        resource(&t, "EncryptionKeyAlias")["Properties"]["AliasName"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .starts_with("alias/payments-")
    );
    // Everything that stores data uses this one key.
    assert_eq!(
        resource(&t, "AlertTopic")["Properties"]["KmsMasterKeyId"],
        json!({ "Fn::GetAtt": ["EncryptionKey", "Arn"] })
    );
    assert_eq!(
        resource(&t, "EventBus")["Properties"]["KmsKeyIdentifier"],
        json!({ "Fn::GetAtt": ["EncryptionKey", "Arn"] })
    );
    for (id, s) in resources(&t, "AWS::SecretsManager::Secret") {
        assert_eq!(
            s["Properties"]["KmsKeyId"],
            json!({ "Fn::GetAtt": ["EncryptionKey", "Arn"] }),
            "{id}"
        );
    }
}

#[test]
fn the_stack_owns_the_execution_log_group_api_gateway_would_create() {
    // "The log group is named API-Gateway-Execution-Logs_{rest-api-id}/{stage_name}" (API
    // Gateway developer guide, execution logging); the stage waits for it, so API Gateway never
    // creates it first, unencrypted and never expiring.
    let t = repo_template("prod");
    let group = resource(&t, "ExecutionLogGroup");
    assert_eq!(
        group["Properties"],
        json!({
            "LogGroupName": { "Fn::Sub": "API-Gateway-Execution-Logs_${RestApi}/live" },
            "RetentionInDays": 30,
            "KmsKeyId": { "Fn::GetAtt": ["EncryptionKey", "Arn"] },
        })
    );
    assert_eq!(group["DeletionPolicy"], "Retain");
    let stage = resource(&t, "ApiStage");
    assert!(
        stage["DependsOn"]
            .as_array()
            .unwrap()
            .contains(&json!("ExecutionLogGroup")),
        "{stage}"
    );
    assert_eq!(
        stage["Properties"]["MethodSettings"][0]["LoggingLevel"],
        "ERROR"
    );
}

#[test]
fn a_changed_api_takes_a_new_deployment() {
    // The deployment's id hashes everything it snapshots: the API's own settings (its name
    // here), not only the method.
    let deployment = |name: &str| {
        let t = common::compile_text(&common::edit(&[("name: shop", &format!("name: {name}"))]))
            .unwrap();
        resources(&t, "AWS::ApiGateway::Deployment")[0].0.clone()
    };
    assert_eq!(deployment("shop"), deployment("shop"));
    assert_ne!(deployment("shop"), deployment("store"));
}

#[test]
fn each_role_uses_the_key_only_as_the_services_it_calls_document() {
    // SQS and SNS producers: GenerateDataKey and Decrypt; SQS consumers, DynamoDB callers,
    // Secrets Manager readers: Decrypt; EventBridge PutEvents: nothing (its service principal
    // uses the key). No data-plane call needs kms:Encrypt or kms:DescribeKey.
    let t = repo_template("prod");
    let via = |s: &str| json!({ "Fn::Sub": format!("{s}.${{AWS::Region}}.amazonaws.com") });
    for (role, decrypt, generate) in [
        (
            "ReceiverRole",
            vec!["dynamodb", "sqs", "secretsmanager", "lambda"],
            vec!["sqs"],
        ),
        (
            "ProcessorRole",
            vec!["dynamodb", "sqs", "sns", "lambda"],
            vec!["sns"],
        ),
        ("AuditRole", vec!["dynamodb", "sqs", "lambda"], vec!["sqs"]),
    ] {
        let statements =
            resource(&t, role)["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
                .as_array()
                .unwrap();
        let kms: Vec<&Value> = statements
            .iter()
            .filter(|s| s["Action"].to_string().contains("kms:"))
            .collect();
        let services = |action: &str| {
            kms.iter()
                .find(|s| s["Action"] == json!([action]))
                .map(|s| s["Condition"]["StringEquals"]["kms:ViaService"].clone())
        };
        assert_eq!(kms.len(), 2, "{role}: {kms:?}");
        assert_eq!(
            services("kms:Decrypt"),
            Some(json!(decrypt.iter().map(|s| via(s)).collect::<Vec<_>>())),
            "{role}"
        );
        assert_eq!(
            services("kms:GenerateDataKey"),
            Some(json!(generate.iter().map(|s| via(s)).collect::<Vec<_>>())),
            "{role}"
        );
    }
}

#[test]
fn roles_have_no_wildcards_beyond_xray() {
    for env in ["prod", "dev"] {
        let t = repo_template(env);
        for (id, role) in resources(&t, "AWS::IAM::Role") {
            for policy in role["Properties"]["Policies"].as_array().unwrap() {
                for s in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                    let actions: Vec<&str> = s["Action"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap())
                        .collect();
                    assert!(
                        actions
                            .iter()
                            .all(|a| !a.contains('*') || a.starts_with("kms:GenerateDataKey")),
                        "{id}: {actions:?}"
                    );
                    if s["Resource"] == "*" {
                        assert!(
                            actions.iter().all(|a| a.starts_with("xray:")),
                            "{id}: only X-Ray may use Resource *: {s}"
                        );
                    } else {
                        assert!(
                            s["Resource"].as_array().is_some_and(|r| !r.is_empty()),
                            "{id}: {s}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn secrets_exist_per_provider_and_hold_no_key() {
    let t = repo_template("prod");
    let secrets = resources(&t, "AWS::SecretsManager::Secret");
    assert_eq!(secrets.len(), 6);
    let stripe = &resource(&t, "StripeSecret")["Properties"];
    assert_eq!(
        stripe["Name"],
        json!({ "Fn::Sub": "payments-stripe-${EnvironmentSuffix}" })
    );
    assert_eq!(
        stripe["SecretString"],
        r#"{"current":null,"previous":null,"previous_expires_at":null}"#
    );
}

#[test]
fn alarms_cover_every_failure_and_notify_the_topic() {
    let t = repo_template("prod");
    let alarms = resources(&t, "AWS::CloudWatch::Alarm");
    let metrics: Vec<String> = alarms
        .iter()
        .map(|(_, a)| {
            format!(
                "{}/{}",
                a["Properties"]["Namespace"], a["Properties"]["MetricName"]
            )
        })
        .collect();
    for expected in [
        "ApproximateNumberOfMessagesVisible",
        "Errors",
        "Throttles",
        "5XXError",
        "IteratorAge",
        "BlockedRequests",
        "SignatureFailures",
    ] {
        assert!(
            metrics
                .iter()
                .any(|m| m.ends_with(&format!("/\"{expected}\""))),
            "{expected} in {metrics:?}"
        );
    }
    for (id, a) in &alarms {
        // The alarm on undeliverable alerts cannot usefully notify the topic that failed.
        let expected = if id.as_str() == "AlertFailuresDepthAlarm" {
            json!([])
        } else {
            json!([{ "Ref": "AlertTopic" }])
        };
        assert_eq!(a["Properties"]["AlarmActions"], expected, "{id}");
    }
    let dlq = &resource(&t, "DlqDepthAlarm")["Properties"];
    assert_eq!(dlq["Threshold"], 1);
    assert_eq!(dlq["Period"], 300);
    let subscriptions = resources(&t, "AWS::SNS::Subscription");
    assert_eq!(
        subscriptions[0].1["Properties"]["Endpoint"],
        "payments-oncall@example.com"
    );
}

#[test]
fn lifecycle_decides_what_survives_deletion() {
    let stateful = [
        "AWS::KMS::Key",
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::SecretsManager::Secret",
        "AWS::Logs::LogGroup",
    ];
    for (env, policy) in [("prod", "Retain"), ("dev", "Delete")] {
        let t = repo_template(env);
        for ty in stateful {
            for (id, r) in resources(&t, ty) {
                assert_eq!(r["DeletionPolicy"], policy, "{env} {id}");
                assert_eq!(r["UpdateReplacePolicy"], policy, "{env} {id}");
            }
        }
    }
    let dev = repo_template("dev");
    assert_eq!(
        resource(&dev, "WebhookTable")["Properties"]["DeletionProtectionEnabled"],
        false
    );
}

#[test]
fn outputs_follow_the_contract() {
    let t = repo_template("prod");
    let outputs = t["Outputs"].as_object().unwrap();
    for key in [
        "ApiUrl",
        "WebhookTableName",
        "ProcessingQueueUrl",
        "DeadLetterQueueUrl",
        "AlertTopicArn",
        "EventBusName",
    ] {
        assert!(outputs.contains_key(key), "{key}");
    }
    for (key, o) in outputs {
        assert!(
            wh::emit::cloudformation::outputs::OUTPUT_KEYS.contains(&key.as_str()),
            "{key} is not in the documented contract"
        );
        assert_eq!(
            o["Export"]["Name"],
            json!({ "Fn::Sub": format!("${{AWS::StackName}}-{key}") })
        );
    }
    assert_eq!(
        outputs["ApiUrl"]["Value"],
        json!({ "Fn::Sub": "https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/live/" })
    );
}

#[test]
fn a_custom_domain_maps_the_stage_and_feeds_notification_urls() {
    let spec = std::fs::read_to_string(common::repo().join("specs/prod.yaml")).unwrap()
        + "\ndomain:\n  name: hooks.example.com\n  certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abc\n";
    let t = common::compile_text(&spec).unwrap();
    let domain = &resource(&t, "CustomDomain")["Properties"];
    assert_eq!(
        domain["DomainName"], "hooks.example.com",
        "the one name without the suffix"
    );
    assert_eq!(domain["SecurityPolicy"], "TLS_1_2");
    assert_eq!(
        resource(&t, "CustomDomainMapping")["Properties"]["Stage"],
        "live"
    );
    let env = &resource(&t, "ReceiverFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(
        env["WH_NOTIFICATION_URL_SQUARE"],
        "https://hooks.example.com/webhook/square"
    );
    assert_eq!(
        t["Outputs"]["CustomDomainUrl"]["Value"],
        "https://hooks.example.com/"
    );
}

#[test]
fn tables_above_the_on_demand_start_are_pre_warmed_and_small_ones_are_not() {
    // prod at 1000/s: 16 write units a webhook (three 5 KB writes + a state) = 16,000, and
    // 7 audit units = 7,000, both above a new table's 4,000; warmed to need x 1.25 in
    // thousands. Reads (2,000) stay under the 12,000 start.
    let t = repo_template("prod");
    assert_eq!(
        resource(&t, "WebhookTable")["Properties"]["WarmThroughput"],
        json!({ "WriteUnitsPerSecond": 20000 })
    );
    assert_eq!(
        resource(&t, "AuditTable")["Properties"]["WarmThroughput"],
        json!({ "WriteUnitsPerSecond": 9000 })
    );
    // dev at 100/s: 1,600 units, under the start: warm throughput is charged and can never be
    // lowered, so none.
    let t = repo_template("dev");
    for table in ["WebhookTable", "AuditTable"] {
        assert!(
            resource(&t, table)["Properties"]
                .get("WarmThroughput")
                .is_none(),
            "{table}"
        );
    }
    assert_eq!(
        resource(&t, "AuditEventSource")["Properties"]["ParallelizationFactor"],
        2
    );
}

#[test]
fn the_status_index_is_sharded_so_no_status_is_one_hot_partition() {
    let t = repo_template("prod");
    let p = &resource(&t, "WebhookTable")["Properties"];
    assert_eq!(
        p["GlobalSecondaryIndexes"],
        json!([{
            "IndexName": "status-shard-index",
            "KeySchema": [
                { "AttributeName": "status_shard", "KeyType": "HASH" },
                { "AttributeName": "received_at", "KeyType": "RANGE" },
            ],
            "Projection": { "ProjectionType": "KEYS_ONLY" },
            // 1000/s x 5 index writes = 5,000 > the 4,000 a new table starts with: x 1.25.
            "WarmThroughput": { "WriteUnitsPerSecond": 7000 },
        }])
    );
    let attributes = p["AttributeDefinitions"].to_string();
    assert!(
        !attributes.contains("\"status\""),
        "no index keyed on the bare status: {attributes}"
    );
}
