//! Every check: a bad spec in, the message with its `file:line:column` and field path out.

mod common;

use common::{BASE, edit, errors, warnings};

fn assert_has(errors: &str, expected: &str) {
    assert!(
        errors.contains(expected),
        "expected {expected:?} in:\n{errors}"
    );
}

#[test]
fn the_base_spec_compiles() {
    common::compile_text(BASE).expect("BASE is valid");
}

#[test]
fn reservations_must_leave_100_unreserved() {
    let e = errors(&edit(&[
        ("    reserved: 10", "    reserved: 850"),
        ("  receiver:", "  account_limit: 950\n  receiver:"),
    ]));
    assert_has(
        &e,
        "spec.yaml:15:18: error: concurrency: reserving 854 (receiver 850 + processor 2 + audit 2) leaves 96 of the account's 950 unreserved; AWS keeps at least 100 unreserved, so reservations may total at most 850",
    );
}

#[test]
fn a_new_accounts_quota_of_ten_reserves_nothing() {
    let e = errors(&edit(&[(
        "  receiver:",
        "  account_limit: 10\n  receiver:",
    )]));
    assert_has(
        &e,
        "spec.yaml:15:18: error: concurrency.account_limit: the account's quota of 10 leaves nothing to reserve",
    );
}

#[test]
fn the_receiver_must_serve_the_api_rate() {
    // 100/s x 200ms = 20 busy at once.
    let e = errors(&edit(&[(
        "    expected_duration: 50ms",
        "    expected_duration: 200ms",
    )]));
    assert_has(
        &e,
        "spec.yaml:16:15: error: concurrency.receiver.reserved: the receiver needs 20 concurrent executions to serve 100/s at 200ms each (Little's law: rate x duration), but reserves 10; reserve at least 20",
    );
}

#[test]
fn the_processor_must_reserve_what_its_event_source_uses() {
    let e = errors(&edit(&[("    reserved: 2", "    reserved: 1")]));
    assert_has(
        &e,
        "spec.yaml:19:15: error: concurrency.processor.reserved: the SQS event source's maximum concurrency is at least 2, above the processor's reserved 1",
    );
}

#[test]
fn zero_reservations_are_refused() {
    let e = errors(&edit(&[("    reserved: 10", "    reserved: 0")]));
    assert_has(
        &e,
        "spec.yaml:16:15: error: concurrency.receiver.reserved: a reservation of 0 stops the function from ever running",
    );
}

#[test]
fn waf_windows_are_the_four_aws_offers() {
    let e = errors(&edit(&[("  per_ip_window: 1m", "  per_ip_window: 90s")]));
    assert_has(
        &e,
        "spec.yaml:12:18: error: limits.per_ip_window: 90s is not a WAF evaluation window; AWS WAF offers 1m, 2m, 5m and 10m",
    );
}

#[test]
fn waf_limits_are_per_window_and_at_least_ten() {
    // 7/m over 1m is a limit of 7 requests: below AWS's minimum of 10.
    let e = errors(&edit(&[("  per_ip_rate: 5/s", "  per_ip_rate: 7/m")]));
    assert_has(
        &e,
        "spec.yaml:11:16: error: limits.per_ip_rate: 7/m over 1m is a WAF limit of 7 requests per window; AWS WAF accepts 10 to 2,000,000,000",
    );
    let e = errors(&edit(&[("  per_ip_rate: 5/s", "  per_ip_rate: 61/h")]));
    assert_has(
        &e,
        "spec.yaml:11:16: error: limits.per_ip_rate: 61/h over 1m is not a whole number of requests",
    );
}

#[test]
fn the_per_ip_rate_stays_below_the_api_rate() {
    let e = errors(&edit(&[("  per_ip_rate: 5/s", "  per_ip_rate: 200/s")]));
    assert_has(
        &e,
        "spec.yaml:11:16: error: limits.per_ip_rate: the per-IP rate 200/s is above the API rate 100/s",
    );
}

#[test]
fn a_typical_payload_lies_within_one_byte_and_the_maximum() {
    let e = errors(&edit(&[(
        "  max_payload: 64KiB",
        "  max_payload: 64KiB\n  typical_payload: 128KiB",
    )]));
    assert_has(
        &e,
        "spec.yaml:14:20: error: limits.typical_payload: a typical payload of 128KiB is outside 1B to `max_payload` (64KiB)",
    );
}

#[test]
fn the_redrive_count_follows_aws_advice_for_lambda_queues() {
    let e = errors(&edit(&[(
        "    batching_window: 0s",
        "    batching_window: 0s\n    max_receive_count: 3",
    )]));
    assert_has(
        &e,
        "spec.yaml:22:24: error: concurrency.processor.max_receive_count: 3 receives is outside 5 to 1000: AWS advises at least 5",
    );
    let t = common::compile_text(BASE).unwrap();
    assert_eq!(
        t["Resources"]["ProcessingQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"],
        5
    );
}

#[test]
fn an_ephemeral_spec_names_each_environments_square_url() {
    let square = |url: &str| {
        edit(&[(
            "    scheme: stripe",
            &format!(
                "    scheme: stripe\n  square:\n    scheme: square\n    notification_url: {url}"
            ),
        )])
    };
    let e = errors(&square("https://hooks-dev.example.com/webhook/square"));
    assert_has(
        &e,
        "error: providers.square.notification_url: `https://hooks-dev.example.com/webhook/square` is one URL for every suffix this ephemeral spec deploys under, but Square signs the URL it posts to",
    );
    let t =
        common::compile_text(&square("https://hooks-{suffix}.example.com/webhook/square")).unwrap();
    assert_eq!(
        t["Resources"]["ReceiverFunction"]["Properties"]["Environment"]["Variables"]["WH_NOTIFICATION_URL_SQUARE"],
        serde_json::json!({ "Fn::Sub": "https://hooks-${EnvironmentSuffix}.example.com/webhook/square" })
    );
    let e = errors(&square("https://hooks-{env}.example.com/webhook/square"));
    assert_has(&e, "is not an https URL");
    // A retained spec deploys under one suffix: one URL is right there.
    let retained = square("https://hooks.example.com/webhook/square")
        .replace("lifecycle: ephemeral", "lifecycle: retain");
    assert!(common::compile_text(&retained).is_ok());
}

#[test]
fn a_burst_of_zero_is_refused() {
    let e = errors(&edit(&[("  api_burst: 200", "  api_burst: 0")]));
    assert_has(
        &e,
        "spec.yaml:10:14: error: limits.api_burst: a burst of 0 lets no request through",
    );
}

/// BASE sized for `rate` (per second): the reservations the capacity model asks for, and an
/// account quota that holds them.
fn at_rate(rate: &str, burst: &str, receiver: &str, processor: &str, audit: &str) -> String {
    edit(&[
        ("  api_rate: 100/s", &format!("  api_rate: {rate}")),
        ("  api_burst: 200", &format!("  api_burst: {burst}")),
        ("  receiver:", "  account_limit: 20000\n  receiver:"),
        ("    reserved: 10", &format!("    reserved: {receiver}")),
        ("    reserved: 2", &format!("    reserved: {processor}")),
        ("    reserved: 2", &format!("    reserved: {audit}")),
    ])
}

#[test]
fn api_rates_over_the_account_quota_are_warnings_naming_it() {
    // 12,000/s is above API Gateway's default account throttle of 10,000/s (adjustable): the
    // spec compiles, with the quota to raise. Reservations: 12,000 x 50 ms = 600 (610 at a
    // burst), x 40 ms = 480, 60,000 stream records x 10 ms = 600.
    let w = warnings(&at_rate("12000/s", "200", "700", "480", "600"));
    assert_has(
        &w,
        "spec.yaml:9:13: warning: limits.api_rate: API Gateway account throttle: needs 12000 requests/s",
    );
    assert_has(
        &w,
        "above the default quota of 10000 (\"Throttle rate\", Service Quotas apigateway/L-8A5B8E43; https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html)",
    );
    // EventBridge's PutEvents default in eu-west-1 is 10,000/s too.
    assert_has(&w, "events/L-9B653E91");
    // 12,000 x 16 write units = 192,000, above an on-demand table's 40,000 default.
    assert_has(
        &w,
        "DynamoDB webhook table maximum: needs 192000 write units/s",
    );
    assert_has(&w, "dynamodb/L-AB614373");
    let w = warnings(&edit(&[("  api_burst: 200", "  api_burst: 6000")]));
    assert_has(
        &w,
        "spec.yaml:10:14: warning: limits.api_burst: API Gateway account burst: needs 6000 requests",
    );
}

#[test]
fn the_status_index_refuses_a_rate_one_partition_per_key_cannot_take() {
    // 17,000/s x 2 writes into each status key over 32 shards = 1,063 units/s per key, above
    // a partition's 1,000: no quota raises it.
    let e = errors(&edit(&[
        ("  api_rate: 100/s", "  api_rate: 17000/s"),
        ("  receiver:", "  account_limit: 5000\n  receiver:"),
        ("    reserved: 10", "    reserved: 200"),
        ("    expected_duration: 50ms", "    expected_duration: 10ms"),
    ]));
    assert_has(
        &e,
        "spec.yaml:9:13: error: limits.api_rate: DynamoDB status index writes per key: needs 1063 write units/s",
    );
    assert_has(
        &e,
        "above AWS's fixed limit of 1000 (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html), which no quota raises; lower `limits.api_rate` to at most 16000/s",
    );
    // At 16,000/s the index holds: 16,000 x 2 / 32 = 1,000.
    let w = warnings(&edit(&[
        ("  api_rate: 100/s", "  api_rate: 16000/s"),
        ("  receiver:", "  account_limit: 5000\n  receiver:"),
        ("    reserved: 10", "    reserved: 200"),
        ("    expected_duration: 50ms", "    expected_duration: 10ms"),
    ]));
    assert!(!w.contains("writes per key"), "{w}");
}

#[test]
fn a_burst_beyond_lambdas_scaling_rate_is_refused() {
    // (5,000 burst + 5,000/s) x 150 ms = 1,500 executions at once; a function adds 1,000
    // every 10 s.
    let e = errors(&edit(&[
        ("  api_rate: 100/s", "  api_rate: 5000/s"),
        ("  api_burst: 200", "  api_burst: 5000"),
        ("  receiver:", "  account_limit: 3000\n  receiver:"),
        ("    reserved: 10", "    reserved: 1600"),
        (
            "    expected_duration: 50ms",
            "    expected_duration: 150ms",
        ),
    ]));
    assert_has(
        &e,
        "spec.yaml:10:14: error: limits.api_burst: Lambda receiver scaling: needs 1500 executions at once",
    );
    assert_has(
        &e,
        "above AWS's fixed limit of 1000 (https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html), which no quota raises",
    );
}

#[test]
fn in_flight_messages_beyond_sqs_are_refused() {
    // 20 executions x 10,000 messages = 200,000 in flight; a standard queue takes 120,000.
    let e = errors(&edit(&[
        ("    reserved: 2", "    reserved: 20"),
        ("    batch_size: 10", "    batch_size: 10000"),
        ("    batching_window: 0s", "    batching_window: 1s"),
    ]));
    assert_has(
        &e,
        "error: concurrency.processor.batch_size: SQS messages in flight: needs 200000 messages (processor concurrency x batch size), above AWS's fixed limit of 120000",
    );
}

#[test]
fn reservations_below_the_model_are_warned_of_and_a_sized_spec_is_quiet() {
    // BASE at 100/s: a burst of 200 + 100 in one second x 50 ms = 15 receivers; 100/s x 40 ms
    // = 4 processors; 500 stream records/s x 10 ms = 5 audit loggers.
    let w = warnings(BASE);
    assert_has(
        &w,
        "spec.yaml:16:15: warning: concurrency.receiver.reserved: Lambda receiver concurrency at a burst: needs 15 executions",
    );
    assert_has(
        &w,
        "spec.yaml:19:15: warning: concurrency.processor.reserved: Lambda processor concurrency: needs 4 executions",
    );
    assert_has(
        &w,
        "spec.yaml:23:15: warning: concurrency.audit.reserved: Lambda audit logger concurrency: needs 5 executions",
    );
    assert_eq!(warnings(&at_rate("100/s", "200", "15", "4", "5")), "");
}

#[test]
fn the_repository_specs_hold_their_rates_by_the_model() {
    for env in ["prod", "dev"] {
        let c = wh::pipeline::compile(&common::repo().join(format!("specs/{env}.yaml"))).unwrap();
        let w: Vec<String> = c.warnings.iter().map(|f| f.problem.to_string()).collect();
        assert!(w.is_empty(), "{env}: {w:#?}");
    }
}

#[test]
fn payloads_must_fit_a_dynamodb_item() {
    let e = errors(&edit(&[("  max_payload: 64KiB", "  max_payload: 512KiB")]));
    assert_has(
        &e,
        "spec.yaml:13:16: error: limits.max_payload: 512KiB does not fit a DynamoDB item (400 KB) with room for the webhook's other attributes; allow at most 384KiB",
    );
}

#[test]
fn queue_retention_is_bounded_and_the_dlq_keeps_longer() {
    let e = errors(&(BASE.to_owned() + "retention:\n  queue: 30s\n"));
    assert_has(
        &e,
        "spec.yaml:25:10: error: retention.queue: 30s is outside SQS's message retention of 60s to 14d",
    );
    let e = errors(&(BASE.to_owned() + "retention:\n  queue: 4d\n  dlq: 1d\n"));
    assert_has(
        &e,
        "spec.yaml:26:8: error: retention.dlq: the DLQ keeps messages 1d, not longer than the processing queue's 4d",
    );
}

#[test]
fn log_retention_is_one_cloudwatch_offers() {
    let e = errors(&(BASE.to_owned() + "retention:\n  logs: 10d\n"));
    assert_has(
        &e,
        "spec.yaml:25:9: error: retention.logs: 10d is not a CloudWatch Logs retention; allowed: 1d, 3d, 5d, 7d, 14d, 30d",
    );
}

#[test]
fn every_physical_name_fits_with_the_longest_suffix() {
    let long = "a".repeat(30);
    let e = errors(&edit(&[("name: shop", &format!("name: {long}"))]));
    assert_has(
        &e,
        &format!(
            "spec.yaml:1:7: error: name: the IAM role name `{long}-processor-role-xxxxxxxxxxxxxxxxxxxx` is 66 characters; IAM role names must be 1 to 64 characters"
        ),
    );
    assert!(
        !e.contains("Lambda function name"),
        "30 + 31 fits a Lambda name:\n{e}"
    );
}

#[test]
fn names_and_suffixes_are_lower_kebab() {
    let e = errors(&edit(&[
        ("name: shop", "name: Shop_1"),
        ("suffix: test", "suffix: PR_42"),
    ]));
    assert_has(
        &e,
        "spec.yaml:1:7: error: name: `Shop_1` is not a valid name",
    );
    assert_has(
        &e,
        "spec.yaml:2:9: error: suffix: `PR_42` is not a valid environment suffix; use 1 to 20 lowercase letters",
    );
}

#[test]
fn regions_are_checked() {
    let e = errors(&edit(&[("region: eu-west-1", "region: europe")]));
    assert_has(
        &e,
        "spec.yaml:3:9: error: region: `europe` is not an AWS region name",
    );
}

#[test]
fn a_custom_domain_needs_the_retain_lifecycle_and_a_local_certificate() {
    let e = errors(
        &(BASE.to_owned()
            + "domain:\n  name: hooks.example.com\n  certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abc\n"),
    );
    assert_has(
        &e,
        "spec.yaml:25:3: error: domain: a custom domain is for `retain` specs only",
    );
    assert_has(
        &e,
        "spec.yaml:26:20: error: domain.certificate_arn: `arn:aws:acm:us-east-1:123456789012:certificate/abc` is not an ACM certificate ARN in eu-west-1",
    );
}

#[test]
fn scheme_fields_must_match_the_scheme() {
    let e = errors(&edit(&[(
        "    scheme: stripe",
        "    scheme: github\n    tolerance: 5m",
    )]));
    assert_has(
        &e,
        "spec.yaml:8:16: error: providers.stripe.tolerance: `tolerance` does not apply to the github scheme; it is only for stripe and standard-webhooks",
    );
    let e = errors(&edit(&[("    scheme: stripe", "    scheme: hmac-sha256")]));
    assert_has(
        &e,
        "spec.yaml:7:13: error: providers.stripe.header: the hmac-sha256 scheme needs `header`",
    );
    assert_has(
        &e,
        "providers.stripe.encoding: the hmac-sha256 scheme needs `encoding`",
    );
    assert_has(
        &e,
        "providers.stripe.event_id: the hmac-sha256 scheme needs `event_id`",
    );
}

#[test]
fn event_ids_and_secret_arns_are_checked() {
    let e = errors(&edit(&[(
        "    scheme: stripe",
        "    scheme: stripe\n    event_id: { json_pointer: id }\n    secret_arn: stripe-secret",
    )]));
    assert_has(
        &e,
        "providers.stripe.event_id.json_pointer: `id` is not a JSON pointer",
    );
    assert_has(
        &e,
        "spec.yaml:9:17: error: providers.stripe.secret_arn: `stripe-secret` is not a Secrets Manager secret ARN",
    );
}

#[test]
fn unknown_fields_are_errors_at_their_position() {
    let e = errors(&edit(&[(
        "    scheme: stripe",
        "    scheme: stripe\n    secret: whsec_123",
    )]));
    assert_has(
        &e,
        "spec.yaml:8:5: error: providers.stripe.secret: unknown field `secret`, expected one of scheme, tolerance, event_id",
    );
}

#[test]
fn units_are_parsed_once_with_their_position() {
    let e = errors(&edit(&[(
        "  api_rate: 100/s",
        "  api_rate: 100 per second",
    )]));
    assert_has(
        &e,
        "spec.yaml:9:13: error: limits.api_rate: `100 per second` is not a rate; write a whole count per unit: N/s, N/m or N/h",
    );
}

#[test]
fn missing_sections_are_named() {
    let e = errors("name: shop\nsuffix: test\nregion: eu-west-1\nlifecycle: retain\n");
    assert_has(&e, "missing field `providers`");
}

#[test]
fn all_errors_of_a_run_are_reported_in_file_order() {
    let e = errors(&edit(&[
        ("region: eu-west-1", "region: europe"),
        ("  per_ip_window: 1m", "  per_ip_window: 90s"),
        ("    reserved: 2", "    reserved: 1"),
    ]));
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(lines[0].starts_with("spec.yaml:3:"), "{e}");
    assert!(lines[1].starts_with("spec.yaml:12:"), "{e}");
    assert!(lines[2].starts_with("spec.yaml:19:"), "{e}");
}

#[test]
fn parse_errors_name_the_field_path_too() {
    let e = errors(&edit(&[("    reserved: 2", "    reserved: two")]));
    assert!(
        e.starts_with("spec.yaml:19:15: error: concurrency.processor.reserved: "),
        "{e}"
    );
    let e = errors(&edit(&[(
        "  max_payload: 64KiB",
        "  max_payload: 64KiB\n  exempt_cidrs: [10.0.0.0/8, 10.0.0.1/8]",
    )]));
    assert!(
        e.starts_with(
            "spec.yaml:14:30: error: limits.exempt_cidrs[1]: `10.0.0.1/8` has host bits set"
        ),
        "{e}"
    );
}
