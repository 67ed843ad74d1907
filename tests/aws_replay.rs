//! What moto cannot show, on AWS's own answers replayed through the SDK's test client
//! (`aws-smithy-http-client`'s `StaticReplayClient`): the account-concurrency preflight, stack
//! events of a failed update and their reasons, a change set that would replace a table, and
//! both of CloudFormation's ways of saying "nothing to change"; for the operations, SQS message
//! move tasks (`wh redrive`; not in moto) and CloudWatch alarms and metrics (`wh status`; moto
//! does not speak its protocol). The bodies are shaped as AWS sends them (CloudFormation's
//! query-protocol XML, Lambda's REST JSON, SQS's JSON 1.0, CloudWatch's RPC v2 CBOR).

mod common;

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::config::Credentials;
use aws_sdk_cloudformation::types::ChangeSetType;
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use wh::deploy::artifacts::TemplateSource;
use wh::deploy::plan::Action;
use wh::deploy::preflight;
use wh::deploy::stack::{self, Deployment, Direct, Prepared};

const NS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";
const STACK_ID: &str = "arn:aws:cloudformation:eu-west-1:123456789012:stack/shop-test/5f0c9b10-c9a1-11f0-8de9-0a1b2c3d4e5f";

/// An answer: HTTP status, extra headers, body.
type Answer = (u16, Vec<(&'static str, &'static str)>, Vec<u8>);

fn replay(answers: Vec<Answer>) -> (StaticReplayClient, SdkConfig) {
    let events = answers
        .into_iter()
        .map(|(status, headers, body)| {
            let request = http::Request::builder()
                .uri("https://replay.invalid/")
                .body(SdkBody::empty())
                .unwrap();
            let mut response = http::Response::builder().status(status);
            for (k, v) in headers {
                response = response.header(k, v);
            }
            ReplayEvent::new(request, response.body(SdkBody::from(body)).unwrap())
        })
        .collect();
    let client = StaticReplayClient::new(events);
    let config = block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("AKID", "secret", None, None, "replay"))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .http_client(client.clone())
            .load(),
    );
    (client, config)
}

fn xml(action: &str, result: &str) -> Answer {
    (
        200,
        vec![("content-type", "text/xml")],
        format!(
            "<{action}Response xmlns=\"{NS}\"><{action}Result>{result}</{action}Result>\
             <ResponseMetadata><RequestId>7d3c1a52-0000-4000-8000-000000000000</RequestId></ResponseMetadata></{action}Response>"
        )
        .into_bytes(),
    )
}

fn query_error(code: &str, message: &str) -> Answer {
    (
        400,
        vec![("content-type", "text/xml")],
        format!(
            "<ErrorResponse xmlns=\"{NS}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
             <RequestId>7d3c1a52-0000-4000-8000-000000000001</RequestId></ErrorResponse>"
        )
        .into_bytes(),
    )
}

fn stack_status(status: &str, reason: &str) -> Answer {
    xml(
        "DescribeStacks",
        &format!(
            "<Stacks><member><StackName>shop-test</StackName><StackId>{STACK_ID}</StackId>\
             <CreationTime>2026-11-20T09:00:00.000Z</CreationTime><StackStatus>{status}</StackStatus>\
             <StackStatusReason>{reason}</StackStatusReason></member></Stacks>"
        ),
    )
}

/// Stack events, newest first, as (id, logical id, type, status, reason).
fn events(list: &[(&str, &str, &str, &str, &str)]) -> Answer {
    let members: String = list
        .iter()
        .map(|(id, logical, ty, status, reason)| {
            format!(
                "<member><EventId>{id}</EventId><StackName>shop-test</StackName><StackId>{STACK_ID}</StackId>\
                 <LogicalResourceId>{logical}</LogicalResourceId><ResourceType>{ty}</ResourceType>\
                 <Timestamp>2026-11-23T10:15:{:02}.000Z</Timestamp><ResourceStatus>{status}</ResourceStatus>\
                 <ResourceStatusReason>{reason}</ResourceStatusReason></member>",
                id.len()
            )
        })
        .collect();
    xml(
        "DescribeStackEvents",
        &format!("<StackEvents>{members}</StackEvents>"),
    )
}

/// The bodies of the requests `client` was sent, in order.
fn request_bodies(client: &StaticReplayClient) -> Vec<String> {
    client
        .actual_requests()
        .map(|r| String::from_utf8_lossy(r.body().bytes().unwrap_or_default()).into_owned())
        .collect()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn deployment() -> Deployment {
    Deployment {
        stack: "shop-test".into(),
        template: TemplateSource::Body("{}".into()),
        parameters: vec![("EnvironmentSuffix".into(), "test".into())],
        tags: vec![],
        role_arn: None,
        rollback: None,
        revert_drift: false,
    }
}

fn base_stack() -> wh::ir::Stack {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spec.yaml");
    std::fs::write(&path, common::BASE).unwrap();
    wh::pipeline::compile(&path).unwrap().stack
}

#[test]
fn a_new_accounts_concurrency_quota_stops_the_deploy_before_anything_is_touched() {
    let lambda_json = vec![("content-type", "application/json")];
    let not_found = vec![
        ("content-type", "application/json"),
        ("x-amzn-errortype", "ResourceNotFoundException"),
    ];
    let (client, sdk) = replay(vec![
        (
            200,
            lambda_json.clone(),
            r#"{"AccountLimit":{"TotalCodeSize":80530636800,"CodeSizeUnzipped":262144000,"CodeSizeZipped":52428800,"ConcurrentExecutions":10,"UnreservedConcurrentExecutions":10},"AccountUsage":{"TotalCodeSize":0,"FunctionCount":0}}"#.into(),
        ),
        (404, not_found.clone(), r#"{"Type":"User","Message":"Function not found: arn:aws:lambda:eu-west-1:123456789012:function:shop-receiver-test"}"#.into()),
        (404, not_found.clone(), r#"{"Type":"User","Message":"Function not found: arn:aws:lambda:eu-west-1:123456789012:function:shop-processor-test"}"#.into()),
        (404, not_found, r#"{"Type":"User","Message":"Function not found: arn:aws:lambda:eu-west-1:123456789012:function:shop-audit-test"}"#.into()),
    ]);
    let stack = base_stack();
    let c = block_on(preflight::concurrency(&sdk, &stack, "test")).unwrap();
    assert_eq!(
        c,
        preflight::Concurrency {
            account_limit: 10,
            unreserved: 10,
            already_reserved: 0
        }
    );
    let reserved: u32 = stack.functions.iter().map(|f| f.reserved).sum();
    assert_eq!(reserved, 14);
    let e = preflight::check_concurrency(reserved, c)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("reserves 14 concurrent executions, 104 more than this account can give"),
        "{e}"
    );
    let asked: Vec<String> = client
        .actual_requests()
        .map(|r| r.uri().to_owned())
        .collect();
    assert!(
        asked[0].ends_with("/2016-08-19/account-settings"),
        "{asked:?}"
    );
    assert!(
        asked[1].contains("/functions/shop-receiver-test/concurrency"),
        "{asked:?}"
    );
}

#[test]
fn an_update_counts_the_concurrency_the_stack_already_holds() {
    let json = vec![("content-type", "application/json")];
    let (_client, sdk) = replay(vec![
        (200, json.clone(), r#"{"AccountLimit":{"ConcurrentExecutions":1000,"UnreservedConcurrentExecutions":100}}"#.into()),
        (200, json.clone(), r#"{"ReservedConcurrentExecutions":10}"#.into()),
        (200, json.clone(), r#"{"ReservedConcurrentExecutions":2}"#.into()),
        (200, json, r#"{"ReservedConcurrentExecutions":2}"#.into()),
    ]);
    let stack = base_stack();
    let c = block_on(preflight::concurrency(&sdk, &stack, "test")).unwrap();
    assert_eq!(c.already_reserved, 14);
    // 100 unreserved is Lambda's floor; the stack's own 14 come back on update.
    assert_eq!(preflight::check_concurrency(14, c).unwrap(), 0);
    assert!(preflight::check_concurrency(15, c).is_err());
}

#[test]
fn a_failed_update_reports_the_failing_resources_and_their_reasons() {
    let reason = "Resource handler returned message: \"Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].\" (RequestToken: 3f1c, HandlerErrorCode: InvalidRequest)";
    let (_client, sdk) = replay(vec![
        stack_status("UPDATE_IN_PROGRESS", "User Initiated"),
        events(&[
            (
                "e3",
                "ReceiverFunction",
                "AWS::Lambda::Function",
                "UPDATE_IN_PROGRESS",
                "",
            ),
            (
                "e2",
                "shop-test",
                "AWS::CloudFormation::Stack",
                "UPDATE_IN_PROGRESS",
                "User Initiated",
            ),
            (
                "e1",
                "shop-test",
                "AWS::CloudFormation::Stack",
                "UPDATE_COMPLETE",
                "",
            ),
        ]),
        stack_status(
            "UPDATE_ROLLBACK_COMPLETE",
            "The following resource(s) failed to update: [ReceiverFunction].",
        ),
        events(&[
            (
                "e8",
                "shop-test",
                "AWS::CloudFormation::Stack",
                "UPDATE_ROLLBACK_COMPLETE",
                "",
            ),
            (
                "e7",
                "ReceiverFunction",
                "AWS::Lambda::Function",
                "UPDATE_COMPLETE",
                "",
            ),
            (
                "e6",
                "shop-test",
                "AWS::CloudFormation::Stack",
                "UPDATE_ROLLBACK_IN_PROGRESS",
                "The following resource(s) failed to update: [ReceiverFunction].",
            ),
            (
                "e5",
                "ProcessorFunction",
                "AWS::Lambda::Function",
                "UPDATE_FAILED",
                "Resource update cancelled",
            ),
            (
                "e4",
                "ReceiverFunction",
                "AWS::Lambda::Function",
                "UPDATE_FAILED",
                reason,
            ),
            (
                "e3",
                "ReceiverFunction",
                "AWS::Lambda::Function",
                "UPDATE_IN_PROGRESS",
                "",
            ),
        ]),
    ]);
    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    let mut shown = Vec::new();
    let finished = block_on(stack::watch(
        &cf,
        "shop-test",
        Some("e1"),
        &["UPDATE_COMPLETE"],
        Duration::from_millis(1),
        &mut |e| shown.push(format!("{} {}", e.logical_id, e.status)),
    ))
    .unwrap();
    assert!(!finished.succeeded);
    assert_eq!(finished.status, "UPDATE_ROLLBACK_COMPLETE");
    assert_eq!(
        finished.reason.as_deref(),
        Some("The following resource(s) failed to update: [ReceiverFunction].")
    );
    // The cause first, the cancellation it led to after.
    let failures: Vec<(&str, &str)> = finished
        .failures
        .iter()
        .map(|e| (e.logical_id.as_str(), e.reason.as_deref().unwrap()))
        .collect();
    assert_eq!(
        failures,
        [
            ("ReceiverFunction", reason),
            ("ProcessorFunction", "Resource update cancelled")
        ]
    );
    // Every event once, oldest first, none from before the update.
    assert_eq!(
        shown,
        [
            "shop-test UPDATE_IN_PROGRESS",
            "ReceiverFunction UPDATE_IN_PROGRESS",
            "ReceiverFunction UPDATE_FAILED",
            "ProcessorFunction UPDATE_FAILED",
            "shop-test UPDATE_ROLLBACK_IN_PROGRESS",
            "ReceiverFunction UPDATE_COMPLETE",
            "shop-test UPDATE_ROLLBACK_COMPLETE",
        ]
    );
}

#[test]
fn a_change_set_that_replaces_the_table_is_stopped_by_the_gate() {
    let change = |action: &str, id: &str, ty: &str, replacement: &str, cause: &str| {
        format!(
            "<member><Type>Resource</Type><ResourceChange><Action>{action}</Action>\
             <LogicalResourceId>{id}</LogicalResourceId><PhysicalResourceId>x</PhysicalResourceId>\
             <ResourceType>{ty}</ResourceType><Replacement>{replacement}</Replacement>\
             <Scope><member>Properties</member></Scope><Details><member><Target><Attribute>Properties</Attribute>\
             <Name>{cause}</Name><RequiresRecreation>Always</RequiresRecreation></Target>\
             <Evaluation>Static</Evaluation><ChangeSource>DirectModification</ChangeSource></member></Details>\
             </ResourceChange></member>"
        )
    };
    let changes = [
        change(
            "Modify",
            "WebhookTable",
            "AWS::DynamoDB::Table",
            "True",
            "KeySchema",
        ),
        change(
            "Modify",
            "ReceiverFunction",
            "AWS::Lambda::Function",
            "False",
            "Code",
        ),
        change(
            "Modify",
            "ProcessingQueue",
            "AWS::SQS::Queue",
            "Conditional",
            "FifoQueue",
        ),
    ]
    .concat();
    let (_client, sdk) = replay(vec![
        xml(
            "CreateChangeSet",
            &format!(
                "<Id>arn:aws:cloudformation:eu-west-1:123456789012:changeSet/wh-1/9f</Id><StackId>{STACK_ID}</StackId>"
            ),
        ),
        xml(
            "DescribeChangeSet",
            "<ChangeSetName>wh-1</ChangeSetName><StackName>shop-test</StackName><Status>CREATE_PENDING</Status><ExecutionStatus>UNAVAILABLE</ExecutionStatus>",
        ),
        xml(
            "DescribeChangeSet",
            &format!(
                "<ChangeSetName>wh-1</ChangeSetName><StackName>shop-test</StackName><Status>CREATE_COMPLETE</Status>\
                 <ExecutionStatus>AVAILABLE</ExecutionStatus><Changes>{changes}</Changes>"
            ),
        ),
    ]);
    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    let prepared = block_on(stack::create_change_set(
        &cf,
        &deployment(),
        ChangeSetType::Update,
        "wh-1",
        Duration::from_millis(1),
    ))
    .unwrap();
    let Prepared::ChangeSet { plan, .. } = prepared else {
        panic!("{prepared:?}")
    };
    assert_eq!(
        plan.summary(),
        "0 to add, 1 to modify, 2 to replace, 0 to remove"
    );
    assert_eq!(plan.changes[0].action, Action::Replace);
    assert_eq!(plan.changes[0].causes, ["KeySchema"]);
    assert!(plan.changes[2].maybe);
    let template = common::compile_text(common::BASE).unwrap();
    let blocked: Vec<String> = plan
        .blocked(&template)
        .into_iter()
        .map(|b| b.reason)
        .collect();
    assert_eq!(blocked.len(), 2, "{blocked:?}");
    assert!(
        blocked[0].starts_with("WebhookTable (AWS::DynamoDB::Table): replacing it"),
        "{blocked:?}"
    );
    assert!(
        blocked[1].starts_with("ProcessingQueue (AWS::SQS::Queue)"),
        "{blocked:?}"
    );
}

/// CloudFormation's answers to a change set `name` with nothing to change: made, failed with
/// this reason, deleted.
fn change_set_without_changes(name: &str) -> Vec<Answer> {
    vec![
        xml(
            "CreateChangeSet",
            &format!(
                "<Id>arn:aws:cloudformation:eu-west-1:123456789012:changeSet/{name}/a1</Id><StackId>{STACK_ID}</StackId>"
            ),
        ),
        xml(
            "DescribeChangeSet",
            &format!(
                "<ChangeSetName>{name}</ChangeSetName><StackName>shop-test</StackName><Status>FAILED</Status>\
                 <ExecutionStatus>UNAVAILABLE</ExecutionStatus><StatusReason>The submitted information didn't contain changes. \
                 Submit different information to create a change set.</StatusReason><Changes/>"
            ),
        ),
        xml("DeleteChangeSet", ""),
    ]
}

#[test]
fn no_changes_is_not_an_error_either_way() {
    // A change set: CloudFormation fails it with this reason; wh deletes it and says so.
    let (client, sdk) = replay(change_set_without_changes("wh-2"));
    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    let prepared = block_on(stack::create_change_set(
        &cf,
        &deployment(),
        ChangeSetType::Update,
        "wh-2",
        Duration::from_millis(1),
    ))
    .unwrap();
    assert_eq!(prepared, Prepared::NoChanges);
    let last = client.actual_requests().last().unwrap();
    let body = String::from_utf8_lossy(last.body().bytes().unwrap()).into_owned();
    assert!(body.contains("Action=DeleteChangeSet"), "{body}");

    // UpdateStack: a ValidationError with these words.
    let (_client, sdk) = replay(vec![query_error(
        "ValidationError",
        "No updates are to be performed.",
    )]);
    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    let direct = block_on(stack::direct(&cf, &deployment(), false)).unwrap();
    assert_eq!(direct, Direct::NoChanges);

    // Any other failure stays one, in AWS's words.
    let (_client, sdk) = replay(vec![query_error(
        "ValidationError",
        "Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template",
    )]);
    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    let e = block_on(stack::direct(&cf, &deployment(), false))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "CloudFormation UpdateStack: Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template"
    );
}

// ---- The quota preflight: moto's Service Quotas knows only VPC quotas.

fn quotas_json(body: &str) -> Answer {
    (
        200,
        vec![("content-type", "application/x-amz-json-1.1")],
        body.as_bytes().to_vec(),
    )
}

fn quota(service: &str, code: &str, value: f64) -> Answer {
    quotas_json(&format!(
        r#"{{"Quota":{{"ServiceCode":"{service}","QuotaCode":"{code}","QuotaName":"q","Value":{value},"Adjustable":true,"GlobalQuota":false}}}}"#
    ))
}

fn no_applied_value() -> Answer {
    (
        400,
        vec![("content-type", "application/x-amz-json-1.1")],
        br#"{"__type":"NoSuchResourceException","Message":"The request failed because the specified service quota does not exist."}"#.to_vec(),
    )
}

#[test]
fn the_quota_preflight_reads_applied_values_and_refuses_a_short_one() {
    // BASE at 100/s in eu-west-1: API rate and burst, the table quota (once for the table,
    // index and audit table), PutEvents and KMS. This account has raised nothing but its
    // throttle rate, and has lowered PutEvents to 50 a second.
    let (client, sdk) = replay(vec![
        quota("apigateway", "L-8A5B8E43", 10_000.0),
        no_applied_value(),
        quota("apigateway", "L-CDF5615A", 5_000.0),
        quota("dynamodb", "L-AB614373", 40_000.0),
        quota("events", "L-9B653E91", 50.0),
        no_applied_value(),
        quota("kms", "L-6E3AF000", 100_000.0),
    ]);
    let stack = base_stack();
    let model = wh::ir::capacity::model(&stack);
    let readings = block_on(wh::deploy::quotas::read(&sdk, &model)).unwrap();
    let seen: Vec<(&str, f64, bool)> = readings
        .iter()
        .map(|r| (r.figure.what, r.value, r.applied))
        .collect();
    assert_eq!(
        seen,
        [
            ("account throttle", 10_000.0, true),
            ("account burst", 5_000.0, false),
            ("webhook table maximum", 40_000.0, true),
            ("status index maximum", 40_000.0, true),
            ("audit table maximum", 40_000.0, true),
            ("PutEvents", 50.0, true),
            ("requests", 100_000.0, false),
        ]
    );
    let e = wh::deploy::quotas::check(&readings)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("EventBridge PutEvents needs 100 requests/s (one PutEvents per webhook; the default in eu-west-1, shared by the account), but this account's \"PutEvents throttle limit in transactions per second\" (events/L-9B653E91) is 50: ask AWS to raise it in Service Quotas"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    let targets: Vec<String> = client
        .actual_requests()
        .map(|r| {
            r.headers()
                .get("x-amz-target")
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        targets,
        [
            "ServiceQuotasV20190624.GetServiceQuota",
            "ServiceQuotasV20190624.GetServiceQuota",
            "ServiceQuotasV20190624.GetAWSDefaultServiceQuota",
            "ServiceQuotasV20190624.GetServiceQuota",
            "ServiceQuotasV20190624.GetServiceQuota",
            "ServiceQuotasV20190624.GetServiceQuota",
            "ServiceQuotasV20190624.GetAWSDefaultServiceQuota",
        ]
    );
    let bodies = request_bodies(&client);
    assert_eq!(
        bodies[1],
        r#"{"ServiceCode":"apigateway","QuotaCode":"L-CDF5615A"}"#
    );
}

// ---- Operations: what moto does not implement (SQS message move tasks) or does not speak
// (CloudWatch's Smithy RPC v2 CBOR protocol).

fn sqs_json(body: &str) -> Answer {
    (
        200,
        vec![("content-type", "application/x-amz-json-1.0")],
        body.as_bytes().to_vec(),
    )
}

fn queues() -> (wh::ops::QueueRef, wh::ops::QueueRef) {
    let q = |name: &str| wh::ops::QueueRef {
        url: format!("https://sqs.eu-west-1.amazonaws.com/123456789012/{name}"),
        arn: format!("arn:aws:sqs:eu-west-1:123456789012:{name}"),
    };
    (q("shop-dlq-test"), q("shop-processing-test"))
}

#[test]
fn a_redrive_is_a_message_move_task_followed_to_its_end() {
    let task = |status: &str, moved: u32, extra: &str| {
        sqs_json(&format!(
            r#"{{"Results":[{{"TaskHandle":"eyJ0YXNrSWQiOiIxIn0=","Status":"{status}","SourceArn":"arn:aws:sqs:eu-west-1:123456789012:shop-dlq-test","DestinationArn":"arn:aws:sqs:eu-west-1:123456789012:shop-processing-test","ApproximateNumberOfMessagesMoved":{moved},"ApproximateNumberOfMessagesToMove":3,"StartedTimestamp":1795000000000{extra}}}]}}"#
        ))
    };
    let (client, sdk) = replay(vec![
        sqs_json(r#"{"TaskHandle":"eyJ0YXNrSWQiOiIxIn0="}"#),
        task("RUNNING", 1, ""),
        task("COMPLETED", 3, ""),
    ]);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (dlq, processing) = queues();
    let handle = block_on(wh::ops::redrive::start(&sqs, &dlq, &processing)).unwrap();
    assert_eq!(handle, "eyJ0YXNrSWQiOiIxIn0=");
    let mut progress = Vec::new();
    let moved = block_on(wh::ops::redrive::follow(
        &sqs,
        &dlq,
        Duration::from_millis(1),
        &mut |n| progress.push(n),
    ))
    .unwrap();
    assert_eq!((moved.status.as_str(), moved.moved), ("COMPLETED", 3));
    assert_eq!(progress, [1, 3]);
    let first = client.actual_requests().next().unwrap();
    let body = String::from_utf8_lossy(first.body().bytes().unwrap()).into_owned();
    assert!(
        body.contains(r#""SourceArn":"arn:aws:sqs:eu-west-1:123456789012:shop-dlq-test""#)
            && body.contains(
                r#""DestinationArn":"arn:aws:sqs:eu-west-1:123456789012:shop-processing-test""#
            ),
        "{body}"
    );

    let (_client, sdk) = replay(vec![task(
        "FAILED",
        1,
        r#","FailureReason":"AWS.SimpleQueueService.NonExistentQueue""#,
    )]);
    let failed = block_on(wh::ops::redrive::follow(
        &aws_sdk_sqs::Client::new(&sdk),
        &dlq,
        Duration::from_millis(1),
        &mut |_| {},
    ))
    .unwrap();
    assert_eq!(failed.status, "FAILED");
    assert_eq!(
        failed.failure.as_deref(),
        Some("AWS.SimpleQueueService.NonExistentQueue")
    );
}

fn cbor(build: impl FnOnce(&mut aws_smithy_cbor::Encoder)) -> Answer {
    let mut e = aws_smithy_cbor::Encoder::new(Vec::new());
    build(&mut e);
    let body = e.into_writer();
    (
        200,
        vec![
            ("content-type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
        ],
        body,
    )
}

#[test]
fn status_reads_alarms_and_the_last_hours_metrics_from_cloudwatch() {
    let alarms = cbor(|e| {
        e.begin_map().str("MetricAlarms").array(1);
        e.begin_map()
            .str("AlarmName")
            .str("shop-dlq-depth-test")
            .str("StateValue")
            .str("ALARM")
            .str("StateReason")
            .str("Threshold Crossed: 1 datapoint [2.0 (23/11/26 10:14:00)] was greater than the threshold (0.0).")
            .end();
        e.end();
    });
    let series = |e: &mut aws_smithy_cbor::Encoder, id: &str, values: &[f64]| {
        e.begin_map()
            .str("Id")
            .str(id)
            .str("Values")
            .array(values.len());
        for v in values {
            e.double(*v);
        }
        e.str("StatusCode").str("Complete").end();
    };
    let metrics = cbor(|e| {
        e.begin_map().str("MetricDataResults").array(5);
        series(e, "accepted", &[120.0, 30.0]);
        series(e, "signature", &[2.0]);
        series(e, "waf", &[17.0]);
        series(e, "api4xx", &[21.0]);
        series(e, "dlqage", &[840.0]);
        e.end();
    });
    let (client, sdk) = replay(vec![alarms, metrics]);
    let r = wh::ops::Resources::of(&base_stack(), "test");
    let now = time::OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
    let view = block_on(wh::ops::health::cloudwatch(
        &aws_sdk_cloudwatch::Client::new(&sdk),
        &r,
        "eu-west-1",
        now,
    ))
    .unwrap();
    assert_eq!(view.alarms.len(), 1);
    assert_eq!(view.alarms[0].0, "shop-dlq-depth-test");
    assert_eq!(view.last_hour["Accepted"], 150.0);
    assert_eq!(view.last_hour["SignatureFailures"], 2.0);
    assert_eq!(view.last_hour["WafBlocked"], 17.0);
    assert_eq!(view.last_hour["Duplicate"], 0.0);
    assert_eq!(view.oldest_message_secs, (None, Some(840.0)));
    // It asked for the stack's own alarms, by name.
    let first = client.actual_requests().next().unwrap();
    assert!(
        first.uri().ends_with("/operation/DescribeAlarms"),
        "{}",
        first.uri()
    );

    let screen = wh::ops::health::render(&wh::ops::health::Health {
        stack: r.stack.clone(),
        alarms: Some(view.alarms),
        last_hour: Some(view.last_hour),
        oldest_message_secs: view.oldest_message_secs,
        dlq: 2,
        ..Default::default()
    });
    assert!(
        screen.contains("DLQ        2, oldest 840 s: inspect, then `wh redrive`"),
        "{screen}"
    );
    assert!(
        screen.contains("accepted 150, duplicates 0, signature failures 2, WAF blocked 17"),
        "{screen}"
    );
    assert!(screen.contains("throttles  not published for REST APIs; 4XX (429 throttles with 403s and other refusals) 21"), "{screen}");
    assert!(
        screen.contains("ALARM      shop-dlq-depth-test: Threshold Crossed"),
        "{screen}"
    );
}

#[test]
fn rollback_triggers_are_the_existing_alarms_and_reach_the_change_set() {
    // CloudWatch has four of the five trigger alarms (the audit errors alarm is missing: a
    // stack made before it), one of them in ALARM.
    let names = wh::deploy::rollback::trigger_names(&base_stack(), "test");
    let alarms = cbor(|e| {
        e.begin_map().str("MetricAlarms").array(4);
        for (name, state) in names[..4]
            .iter()
            .zip(["OK", "INSUFFICIENT_DATA", "OK", "ALARM"])
        {
            e.begin_map()
                .str("AlarmName")
                .str(name)
                .str("AlarmArn")
                .str(&format!(
                    "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}"
                ))
                .str("StateValue")
                .str(state)
                .end();
        }
        e.end();
    });
    let (client, sdk) = replay(vec![alarms]);
    let found = block_on(wh::deploy::rollback::read(&sdk, &names)).unwrap();
    assert_eq!(found.len(), 4);
    let asked = client.actual_requests().next().unwrap();
    assert!(asked.uri().ends_with("/operation/DescribeAlarms"));
    // The one in ALARM stops the deploy unless left out; the missing one is left out.
    let t = wh::deploy::rollback::decide(&names, &found, 5, false);
    assert_eq!(t.firing, [names[3].clone()]);
    let t = wh::deploy::rollback::decide(&names, &found, 5, true);
    assert_eq!(t.arns.len(), 3);
    assert_eq!(t.left_out.len(), 2);

    // The change set carries them, with the monitoring time.
    let (client, sdk) = replay(change_set_without_changes("wh-3"));
    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    let d = Deployment {
        rollback: Some(t.configuration()),
        ..deployment()
    };
    block_on(stack::create_change_set(
        &cf,
        &d,
        ChangeSetType::Update,
        "wh-3",
        Duration::from_millis(1),
    ))
    .unwrap();
    let first = client.actual_requests().next().unwrap();
    let body = String::from_utf8_lossy(first.body().bytes().unwrap()).into_owned();
    assert!(body.contains("Action=CreateChangeSet"), "{body}");
    assert!(
        body.contains("RollbackConfiguration.MonitoringTimeInMinutes=5"),
        "{body}"
    );
    for (i, name) in names[..3].iter().enumerate() {
        assert!(
            body.contains(&format!(
                "RollbackConfiguration.RollbackTriggers.member.{}.Arn=arn%3Aaws%3Acloudwatch%3Aeu-west-1%3A123456789012%3Aalarm%3A{name}",
                i + 1
            )),
            "{name}: {body}"
        );
    }
    assert!(
        body.contains(
            "RollbackConfiguration.RollbackTriggers.member.1.Type=AWS%3A%3ACloudWatch%3A%3AAlarm"
        ),
        "{body}"
    );
    assert!(!body.contains("member.4.Arn"), "{body}");
}

#[test]
fn a_drift_aware_change_set_is_asked_for_and_marks_what_it_reverts() {
    // A drift-aware change set's answer: the function whose reserved concurrency was raised in
    // the console comes back to the template (ResourceDriftStatus MODIFIED), though its template
    // did not change; the queue changes as in any change set.
    let change = |id: &str, ty: &str, drift: &str| {
        format!(
            "<member><Type>Resource</Type><ResourceChange><Action>Modify</Action>\
             <LogicalResourceId>{id}</LogicalResourceId><PhysicalResourceId>x</PhysicalResourceId>\
             <ResourceType>{ty}</ResourceType><Replacement>False</Replacement>\
             <ResourceDriftStatus>{drift}</ResourceDriftStatus>\
             <Scope><member>Properties</member></Scope></ResourceChange></member>"
        )
    };
    let changes = [
        change("ReceiverFunction", "AWS::Lambda::Function", "MODIFIED"),
        change("ProcessingQueue", "AWS::SQS::Queue", "IN_SYNC"),
    ]
    .concat();
    let (client, sdk) = replay(vec![
        xml(
            "CreateChangeSet",
            &format!(
                "<Id>arn:aws:cloudformation:eu-west-1:123456789012:changeSet/wh-4/9f</Id><StackId>{STACK_ID}</StackId>"
            ),
        ),
        xml(
            "DescribeChangeSet",
            &format!(
                "<ChangeSetName>wh-4</ChangeSetName><StackName>shop-test</StackName><Status>CREATE_COMPLETE</Status>\
                 <ExecutionStatus>AVAILABLE</ExecutionStatus><DeploymentMode>REVERT_DRIFT</DeploymentMode>\
                 <Changes>{changes}</Changes>"
            ),
        ),
    ]);
    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    let d = Deployment {
        revert_drift: true,
        ..deployment()
    };
    let prepared = block_on(stack::create_change_set(
        &cf,
        &d,
        ChangeSetType::Update,
        "wh-4",
        Duration::from_millis(1),
    ))
    .unwrap();
    let body = request_bodies(&client).remove(0);
    assert!(body.contains("Action=CreateChangeSet"), "{body}");
    assert!(body.contains("DeploymentMode=REVERT_DRIFT"), "{body}");
    let Prepared::ChangeSet { plan, .. } = prepared else {
        panic!("{prepared:?}")
    };
    assert_eq!(plan.changes[0].drift.as_deref(), Some("MODIFIED"));
    assert_eq!(plan.changes[1].drift, None);
    assert!(
        plan.render().contains(
            "~ ReceiverFunction AWS::Lambda::Function (drift MODIFIED: reverted to the template)"
        ),
        "{}",
        plan.render()
    );

    // Without drift, a plain change set: no deployment mode.
    let (client, sdk) = replay(change_set_without_changes("wh-5"));
    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    block_on(stack::create_change_set(
        &cf,
        &deployment(),
        ChangeSetType::Update,
        "wh-5",
        Duration::from_millis(1),
    ))
    .unwrap();
    let body = request_bodies(&client).remove(0);
    assert!(!body.contains("DeploymentMode"), "{body}");
}

/// Drift detection of `shop-test` against the answers `sdk` replays.
fn detect_drift(sdk: &SdkConfig) -> wh::deploy::drift::Drift {
    let cf = aws_sdk_cloudformation::Client::new(sdk);
    block_on(wh::deploy::drift::detect(
        &cf,
        "shop-test",
        Duration::from_millis(1),
    ))
    .unwrap()
}

fn drift_status(detection: &str, drift: &str) -> Answer {
    xml(
        "DescribeStackDriftDetectionStatus",
        &format!(
            "<StackId>{STACK_ID}</StackId><StackDriftDetectionId>d-1</StackDriftDetectionId>\
             <StackDriftStatus>{drift}</StackDriftStatus><DetectionStatus>{detection}</DetectionStatus>\
             <DriftedStackResourceCount>1</DriftedStackResourceCount><Timestamp>2026-11-30T10:00:00Z</Timestamp>"
        ),
    )
}

#[test]
fn drift_is_detected_read_and_shown_with_what_could_not_be_checked() {
    // The receiver's reserved concurrency raised in the console during an incident; the web
    // ACL is a type CloudFormation did not check.
    let resource = |id: &str, kind: &str, status: &str, differences: &str| {
        format!(
            "<member><StackId>{STACK_ID}</StackId><LogicalResourceId>{id}</LogicalResourceId>\
             <PhysicalResourceId>{id}-physical</PhysicalResourceId><ResourceType>{kind}</ResourceType>\
             <PropertyDifferences>{differences}</PropertyDifferences>\
             <StackResourceDriftStatus>{status}</StackResourceDriftStatus><Timestamp>2026-11-30T10:00:00Z</Timestamp></member>"
        )
    };
    let (client, sdk) = replay(vec![
        xml(
            "DetectStackDrift",
            "<StackDriftDetectionId>d-1</StackDriftDetectionId>",
        ),
        drift_status("DETECTION_IN_PROGRESS", "UNKNOWN"),
        drift_status("DETECTION_COMPLETE", "DRIFTED"),
        xml(
            "DescribeStackResourceDrifts",
            &format!(
                "<StackResourceDrifts>{}{}</StackResourceDrifts>",
                resource(
                    "ReceiverFunction",
                    "AWS::Lambda::Function",
                    "MODIFIED",
                    "<member><PropertyPath>/ReservedConcurrentExecutions</PropertyPath><ExpectedValue>100</ExpectedValue>\
                     <ActualValue>400</ActualValue><DifferenceType>NOT_EQUAL</DifferenceType></member>"
                ),
                resource("WebAcl", "AWS::WAFv2::WebACL", "NOT_CHECKED", "")
            ),
        ),
    ]);
    let drift = detect_drift(&sdk);
    assert!(drift.drifted());
    assert_eq!(drift.status, "DRIFTED");
    assert_eq!(drift.drifted.len(), 1);
    assert_eq!(
        drift.not_checked,
        [("WebAcl".to_owned(), "AWS::WAFv2::WebACL".to_owned())]
    );
    assert_eq!(
        drift.render(),
        [
            "drifted: ReceiverFunction (AWS::Lambda::Function) MODIFIED",
            "  /ReservedConcurrentExecutions NOT_EQUAL: template 100, deployed 400",
            "not checked by CloudFormation: WebAcl (AWS::WAFv2::WebACL)",
        ]
    );
    let bodies = request_bodies(&client);
    assert!(
        bodies[0].contains("Action=DetectStackDrift"),
        "{}",
        bodies[0]
    );
    assert!(
        bodies[2].contains("StackDriftDetectionId=d-1"),
        "{}",
        bodies[2]
    );
    assert!(
        bodies[3].contains("Action=DescribeStackResourceDrifts")
            && bodies[3].contains("StackResourceDriftStatusFilters.member.1=MODIFIED")
            && bodies[3].contains("StackResourceDriftStatusFilters.member.3=NOT_CHECKED"),
        "{}",
        bodies[3]
    );

    // In sync: nothing to show, nothing stops.
    let (_client, sdk) = replay(vec![
        xml(
            "DetectStackDrift",
            "<StackDriftDetectionId>d-1</StackDriftDetectionId>",
        ),
        drift_status("DETECTION_COMPLETE", "IN_SYNC"),
        xml("DescribeStackResourceDrifts", "<StackResourceDrifts/>"),
    ]);
    let drift = detect_drift(&sdk);
    assert!(!drift.drifted());
    assert!(drift.render().is_empty());
}
