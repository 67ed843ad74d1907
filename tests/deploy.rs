//! `wh bootstrap`, `wh deploy`, `wh diff` and `wh destroy`, the real binary against moto server
//! on 127.0.0.1: what the stack's resources became is read back through the service APIs.
//! (What moto cannot show is in `aws_replay.rs`, on recorded AWS answers.)

mod common;

#[path = "../runtime/tests/support/moto.rs"]
mod moto;

#[path = "common/aws_stack.rs"]
mod aws_stack;

use std::process::Command;

use aws_sdk_sqs::types::QueueAttributeName;
use aws_stack::{BUCKET, block_on, queue_attribute, sdk, stdout, text, wh, wh_command, workdir};

/// The stack's policy, as CloudFormation holds it.
/// The template `stack` was last deployed with, as CloudFormation (moto) keeps it.
fn deployed_template(sdk: &aws_config::SdkConfig, stack: &str) -> serde_json::Value {
    block_on(async {
        let t = aws_sdk_cloudformation::Client::new(sdk)
            .get_template()
            .stack_name(stack)
            .send()
            .await
            .unwrap();
        serde_json::from_str(t.template_body().unwrap()).unwrap()
    })
}

fn stack_policy(sdk: &aws_config::SdkConfig, stack: &str) -> serde_json::Value {
    let out = block_on(
        aws_sdk_cloudformation::Client::new(sdk)
            .get_stack_policy()
            .stack_name(stack)
            .send(),
    )
    .unwrap();
    serde_json::from_str(out.stack_policy_body().unwrap_or("null")).unwrap()
}

#[test]
fn a_spec_is_bootstrapped_deployed_updated_and_destroyed_through_change_sets() {
    let moto = moto::Moto::start();
    let dir = workdir(common::BASE);
    let sdk = block_on(sdk(&moto));

    let o = wh(dir.path(), &moto, &["deploy"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "no artifact bucket {BUCKET}: run `wh bootstrap spec.yaml`"
        )),
        "{}",
        text(&o)
    );

    let o = wh(dir.path(), &moto, &["bootstrap"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains(&format!("artifact bucket: {BUCKET}")),
        "{}",
        text(&o)
    );
    // A fresh account: the role first, the account setting in a second change set, so IAM
    // has propagated the role before API Gateway is pointed at it.
    assert!(
        stdout(&o).contains("step 1 of 2") && stdout(&o).contains("step 2 of 2"),
        "{}",
        text(&o)
    );
    // (moto does not implement AWS::ApiGateway::Account, so the account setting itself is not
    // visible here; the role is, and the second run below finds nothing to change.)
    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    assert!(
        block_on(wh::deploy::bootstrap::our_role_name(&cf))
            .unwrap()
            .is_some()
    );
    let encryption = block_on(
        aws_sdk_s3::Client::new(&sdk)
            .get_bucket_encryption()
            .bucket(BUCKET)
            .send(),
    )
    .unwrap();
    let rule = &encryption
        .server_side_encryption_configuration()
        .unwrap()
        .rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm()
            .as_str(),
        "AES256"
    );
    let again = wh(dir.path(), &moto, &["bootstrap"]);
    assert!(
        stdout(&again).contains("already bootstrapped"),
        "{}",
        text(&again)
    );

    // Create, through a change set.
    let o = wh(dir.path(), &moto, &["deploy"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = stdout(&o);
    let template = deployed_template(&sdk, "shop-test");
    let resources = template["Resources"].as_object().unwrap().len();
    assert!(
        out.contains(&format!(
            "{resources} to add, 0 to modify, 0 to replace, 0 to remove"
        )),
        "{out}"
    );
    assert!(out.contains("+ WebhookTable AWS::DynamoDB::Table"), "{out}");
    assert!(out.contains("shop-test: CREATE_COMPLETE"), "{out}");
    // A first deploy has nothing deployed to widen, so it says nothing of broadening.
    assert!(!out.contains("broadening:"), "{out}");
    assert_eq!(
        stack_policy(&sdk, "shop-test"),
        wh::deploy::plan::protecting_policy()
    );
    assert_eq!(out.matches(", uploaded)").count(), 3, "{out}");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("dist/spec/manifest.json")).unwrap(),
    )
    .unwrap();
    let receiver_key = manifest["functions"]["receiver"]["s3_key"]
        .as_str()
        .unwrap();
    block_on(async {
        // The zips and the template (over 51,200 bytes) are in the bucket.
        let s3 = aws_sdk_s3::Client::new(&sdk);
        let listed = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
        let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
        assert!(keys.contains(&receiver_key), "{keys:?}");
        assert!(
            keys.iter()
                .any(|k| k.starts_with("shop-test/templates/") && k.ends_with(".json")),
            "{keys:?}"
        );
        // The function runs the uploaded zip.
        let f = aws_sdk_lambda::Client::new(&sdk)
            .get_function()
            .function_name("shop-receiver-test")
            .send()
            .await
            .unwrap();
        let location = f.code().unwrap().location().unwrap();
        assert!(location.ends_with(receiver_key), "{location}");
        // The table streams both images to the audit logger.
        let table = aws_sdk_dynamodb::Client::new(&sdk)
            .describe_table()
            .table_name("shop-webhooks-test")
            .send()
            .await
            .unwrap();
        let table = table.table().unwrap();
        assert!(table.latest_stream_arn().is_some());
        assert_eq!(
            table
                .stream_specification()
                .unwrap()
                .stream_view_type()
                .unwrap()
                .as_str(),
            "NEW_AND_OLD_IMAGES"
        );
    });
    let redrive: serde_json::Value = serde_json::from_str(&block_on(queue_attribute(
        &sdk,
        "shop-processing-test",
        QueueAttributeName::RedrivePolicy,
    )))
    .unwrap();
    assert!(
        redrive["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with(":shop-dlq-test"),
        "{redrive}"
    );
    // AWS's advice for a queue behind a Lambda function: at least 5.
    assert_eq!(redrive["maxReceiveCount"], 5);
    assert_eq!(
        block_on(queue_attribute(
            &sdk,
            "shop-processing-test",
            QueueAttributeName::MessageRetentionPeriod
        )),
        "345600"
    );

    // The same spec again: nothing to do, nothing uploaded.
    let o = wh(dir.path(), &moto, &["deploy"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(stdout(&o).contains("no changes"), "{}", text(&o));
    assert_eq!(
        stdout(&o).matches("already there").count(),
        3,
        "{}",
        text(&o)
    );

    // A real change: `wh diff` shows it and changes nothing ...
    // (moto applies only a queue's VisibilityTimeout on update: a longer batching window
    // lengthens it.)
    let visibility = || {
        block_on(queue_attribute(
            &sdk,
            "shop-processing-test",
            QueueAttributeName::VisibilityTimeout,
        ))
        .parse::<u64>()
        .unwrap()
    };
    let visibility_before = visibility();
    let changed = common::edit(&[("    batching_window: 0s", "    batching_window: 5s")]);
    std::fs::write(dir.path().join("spec.yaml"), &changed).unwrap();
    let change_sets = || {
        let listed = block_on(
            aws_sdk_cloudformation::Client::new(&sdk)
                .list_change_sets()
                .stack_name("shop-test")
                .send(),
        )
        .unwrap();
        listed
            .summaries()
            .iter()
            .filter_map(|s| s.change_set_name().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let before = change_sets();
    let o = wh(dir.path(), &moto, &["diff", "--output-format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let diff: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(diff["create"], false, "{diff}");
    assert!(
        diff["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["logical_id"] == "ProcessingQueue" && c["action"] == "modify"),
        "{diff}"
    );
    assert_eq!(visibility(), visibility_before);
    assert_eq!(change_sets(), before, "wh diff leaves no change set behind");
    let o = wh(dir.path(), &moto, &["diff"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(stdout(&o).contains("shop-test (update)"), "{}", text(&o));
    assert!(
        stdout(&o).contains("~ ProcessingQueue AWS::SQS::Queue"),
        "{}",
        text(&o)
    );

    // `--plan` stops at the change set and leaves it for review ...
    let o = wh(dir.path(), &moto, &["deploy", "--plan"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("left for review; nothing was executed"),
        "{}",
        text(&o)
    );
    assert_eq!(visibility(), visibility_before);
    assert_eq!(
        change_sets().len(),
        before.len() + 1,
        "the change set is there to review"
    );

    // ... and `wh deploy` applies it.
    let o = wh(dir.path(), &moto, &["deploy", "--output-format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["result"], "deployed", "{report}");
    assert_eq!(report["status"], "UPDATE_COMPLETE", "{report}");
    assert_eq!(visibility(), visibility_before + 5);

    // A change that widens access: the per-IP rule allows twice the rate. `wh diff` lists it
    // apart, `wh deploy` stops on it (leaving no change set and the stack as it was), and
    // `--approve-broadening` deploys it.
    let per_ip_limit = || {
        deployed_template(&sdk, "shop-test")["Resources"]["WebAcl"]["Properties"]["Rules"][0]["Statement"]["RateBasedStatement"]
            ["Limit"]
            .as_u64()
            .unwrap()
    };
    // 5/s over 1 min (tests/common's spec).
    assert_eq!(per_ip_limit(), 300);
    let wider = common::edit(&[
        ("    batching_window: 0s", "    batching_window: 5s"),
        ("  per_ip_rate: 5/s", "  per_ip_rate: 10/s"),
    ]);
    std::fs::write(dir.path().join("spec.yaml"), &wider).unwrap();
    let markdown = dir.path().join("plan.md");
    let o = wh(
        dir.path(),
        &moto,
        &[
            "diff",
            "--output-format",
            "json",
            "--markdown",
            markdown.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(&markdown).unwrap();
    assert!(
        md.contains(
            "| `WebAcl` | per-ip-limit | rule per-ip-rate allows 600 per 60 s (was 300 per 60 s) |"
        ),
        "{md}"
    );
    assert!(
        md.contains("- `--approve-broadening`: 1 change widening access"),
        "{md}"
    );
    let diff: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        diff["broadening"],
        serde_json::json!([{
            "kind": "per-ip-limit",
            "logical_id": "WebAcl",
            "detail": "rule per-ip-rate allows 600 per 60 s (was 300 per 60 s)"
        }]),
        "{diff}"
    );
    let sets = change_sets();
    let o = wh(dir.path(), &moto, &["deploy"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stdout(&o).contains("! WebAcl per-IP limit: rule per-ip-rate allows 600 per 60 s"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("re-run with --approve-broadening"),
        "{}",
        text(&o)
    );
    assert_eq!(change_sets(), sets, "the refused change set is deleted");
    assert_eq!(per_ip_limit(), 300);
    let o = wh(
        dir.path(),
        &moto,
        &["deploy", "--approve-broadening", "--output-format", "json"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["result"], "deployed", "{report}");
    assert_eq!(report["broadening"][0]["kind"], "per-ip-limit", "{report}");
    assert_eq!(per_ip_limit(), 600);
    // Back down narrows: no gate.
    std::fs::write(dir.path().join("spec.yaml"), &changed).unwrap();
    let o = wh(dir.path(), &moto, &["deploy", "--output-format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["broadening"], serde_json::json!([]), "{report}");
    assert_eq!(per_ip_limit(), 300);

    // Destroy: refused without a terminal or --yes, then done.
    let o = wh(dir.path(), &moto, &["destroy"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("pass --yes"), "{}", text(&o));
    let o = wh(dir.path(), &moto, &["destroy", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("shop-test: DELETE_COMPLETE"),
        "{}",
        text(&o)
    );
    assert!(!dir.path().join("outputs/shop-test.json").exists());
    let gone = block_on(
        aws_sdk_cloudformation::Client::new(&sdk)
            .describe_stacks()
            .stack_name("shop-test")
            .send(),
    );
    assert!(gone.is_err(), "{gone:?}");
}

#[test]
fn bootstrap_leaves_an_accounts_own_api_gateway_logging_role_alone() {
    // The setting is one per account and region: replacing it would cut off whoever set it.
    let moto = moto::Moto::start();
    let dir = workdir(common::BASE);
    let sdk = block_on(sdk(&moto));
    let theirs = "arn:aws:iam::123456789012:role/ops-apigateway-logs";
    block_on(
        aws_sdk_apigateway::Client::new(&sdk)
            .update_account()
            .patch_operations(
                aws_sdk_apigateway::types::PatchOperation::builder()
                    .op(aws_sdk_apigateway::types::Op::Replace)
                    .path("/cloudwatchRoleArn")
                    .value(theirs)
                    .build(),
            )
            .send(),
    )
    .unwrap();
    let o = wh(dir.path(), &moto, &["bootstrap"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains(&format!(
            "API Gateway already logs to CloudWatch with {theirs}: left as it is"
        )),
        "{}",
        text(&o)
    );
    assert_eq!(
        block_on(wh::deploy::bootstrap::account_logging_role(&sdk))
            .unwrap()
            .as_deref(),
        Some(theirs)
    );
    let resources = block_on(
        aws_sdk_cloudformation::Client::new(&sdk)
            .list_stack_resources()
            .stack_name("wh-bootstrap")
            .send(),
    )
    .unwrap();
    let types: Vec<&str> = resources
        .stack_resource_summaries()
        .iter()
        .filter_map(|r| r.resource_type())
        .collect();
    assert!(!types.contains(&"AWS::ApiGateway::Account"), "{types:?}");
    assert!(!types.contains(&"AWS::IAM::Role"), "{types:?}");
}

#[test]
fn direct_deploys_write_flat_outputs_and_suffixes_never_collide() {
    let moto = moto::Moto::start();
    // At the production rate, so the tables carry the capacity model's WarmThroughput.
    let dir = workdir(&common::edit(&[
        ("  api_rate: 100/s", "  api_rate: 1000/s"),
        ("  api_burst: 200", "  api_burst: 2000"),
        ("    reserved: 10", "    reserved: 150"),
        ("    reserved: 2", "    reserved: 40"),
        ("    reserved: 2", "    reserved: 50"),
    ]));
    let sdk = block_on(sdk(&moto));
    assert!(wh(dir.path(), &moto, &["bootstrap"]).status.success());

    // Two PR environments at once.
    let children: Vec<_> = ["pr-1", "pr-2"]
        .iter()
        .map(|suffix| {
            wh_command(
                dir.path(),
                &moto,
                &["deploy", "--method", "direct", "--suffix", suffix],
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert!(stdout(&o).contains(": CREATE_COMPLETE"), "{}", text(&o));
    }
    for suffix in ["pr-1", "pr-2"] {
        let file = dir.path().join(format!("outputs/shop-{suffix}.json"));
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let outputs = &doc[format!("shop-{suffix}")];
        assert!(
            outputs["ProcessingQueueUrl"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/shop-processing-{suffix}")),
            "{doc}"
        );
        assert_eq!(
            outputs["WebhookTableName"],
            format!("shop-webhooks-{suffix}")
        );
        assert_eq!(outputs["EnvironmentSuffix"], suffix);
        // 1000/s x (3 x 5 KB + 1) = 16,000 write units, +25 % in thousands: AWS (and moto)
        // accept a warm throughput above the on-demand start of 4,000.
        let table = block_on(
            aws_sdk_dynamodb::Client::new(&sdk)
                .describe_table()
                .table_name(format!("shop-webhooks-{suffix}"))
                .send(),
        )
        .unwrap();
        let warm = table.table().and_then(|t| t.warm_throughput());
        assert_eq!(
            warm.and_then(|w| w.write_units_per_second()),
            Some(20_000),
            "{warm:?}"
        );
        assert!(
            outputs["ApiUrl"].as_str().unwrap().starts_with("https://"),
            "{doc}"
        );
        assert_eq!(
            block_on(queue_attribute(
                &sdk,
                &format!("shop-processing-{suffix}"),
                QueueAttributeName::MessageRetentionPeriod
            )),
            "345600"
        );
    }

    // An update without a preview needs the caller to accept what the gate would have checked.
    let o = wh(
        dir.path(),
        &moto,
        &["deploy", "--method", "direct", "--suffix", "pr-1"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("pass --allow-replace"), "{}", text(&o));
    let o = wh(
        dir.path(),
        &moto,
        &[
            "deploy",
            "--method",
            "direct",
            "--suffix",
            "pr-1",
            "--allow-replace",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(stdout(&o).contains("no changes"), "{}", text(&o));
    // --allow-replace lifted the stack policy for that update only.
    assert_eq!(
        stack_policy(&sdk, "shop-pr-1"),
        wh::deploy::plan::protecting_policy()
    );
}

#[test]
fn a_retain_spec_deploys_only_under_its_own_suffix() {
    let moto = moto::Moto::start();
    let dir = workdir(&common::edit(&[(
        "lifecycle: ephemeral",
        "lifecycle: retain",
    )]));
    let o = wh(dir.path(), &moto, &["deploy", "--suffix", "pr-3"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("deploys only under its own suffix `test`, not `pr-3`"),
        "{}",
        text(&o)
    );
    let o = wh(dir.path(), &moto, &["destroy", "--yes"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("pass --force"), "{}", text(&o));
}

#[test]
fn a_stack_the_emulator_rejects_is_a_readable_error() {
    let moto = moto::Moto::start();
    let dir = workdir(common::BASE);
    let sdk = block_on(sdk(&moto));
    assert!(wh(dir.path(), &moto, &["bootstrap"]).status.success());
    // A table of the same name already exists, made outside the stack.
    block_on(moto::create_table(&sdk, "shop-webhooks-test"));
    let o = wh(dir.path(), &moto, &["deploy", "--method", "direct"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("CloudFormation CreateStack"), "{stderr}");
    assert!(
        stderr.contains("Table already exists: shop-webhooks-test"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Extensions"),
        "the raw SDK dump is not an error message: {stderr}"
    );
}

#[test]
fn without_credentials_the_preflight_says_where_it_looked() {
    let moto = moto::Moto::start();
    let dir = workdir(common::BASE);
    let home = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_wh"))
        .current_dir(dir.path())
        .args(["deploy", "spec.yaml", "--endpoint-url", &moto.url])
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", std::env::var("PATH").unwrap())
        // No instance-metadata lookups from a test.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("preflight: no usable AWS credentials"),
        "{stderr}"
    );
    assert!(
        stderr.contains("AWS_ACCESS_KEY_ID") && stderr.contains("~/.aws/credentials"),
        "{stderr}"
    );
}

#[test]
fn a_build_of_another_version_of_the_spec_is_never_deployed() {
    let moto = moto::Moto::start();
    let dir = workdir(common::BASE);
    assert!(wh(dir.path(), &moto, &["bootstrap"]).status.success());
    // A provider added after `wh build`: the receiver's crate changed, the zips did not.
    let spec = common::BASE.replace(
        "providers:\n  stripe:\n    scheme: stripe\n",
        "providers:\n  stripe:\n    scheme: stripe\n  github:\n    scheme: github\n",
    );
    std::fs::write(dir.path().join("spec.yaml"), spec).unwrap();
    let o = wh(dir.path(), &moto, &["deploy"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(
            "the zips were built from other handler sources than spec.yaml compiles to now"
        ),
        "{}",
        text(&o)
    );
    let stacks = block_on(
        aws_sdk_cloudformation::Client::new(&block_on(sdk(&moto)))
            .describe_stacks()
            .stack_name("shop-test")
            .send(),
    );
    assert!(stacks.is_err(), "nothing was created: {stacks:?}");
}
