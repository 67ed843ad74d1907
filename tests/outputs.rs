//! `wh outputs` against moto server on 127.0.0.1: a stack's outputs become the flat-outputs file
//! the other commands and CI read; a missing stack is a clear error.

mod common;

#[path = "../runtime/tests/support/moto.rs"]
mod moto;

use std::process::Command;

const TEMPLATE: &str = r#"{
  "Resources": { "Queue": { "Type": "AWS::SQS::Queue", "Properties": { "QueueName": "shop-processing-test" } } },
  "Outputs": {
    "ApiUrl": { "Value": "https://abc123.execute-api.eu-west-1.amazonaws.com/live/" },
    "ProcessingQueueUrl": { "Value": { "Ref": "Queue" } }
  }
}"#;

fn wh_outputs(dir: &std::path::Path, endpoint: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wh"))
        .current_dir(dir)
        .args([
            "outputs",
            "spec.yaml",
            "--endpoint-url",
            endpoint,
            "--out-dir",
            "outputs",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

#[test]
fn a_stacks_outputs_become_the_flat_outputs_file() {
    let moto = moto::Moto::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.yaml"), common::BASE).unwrap();

    let missing = wh_outputs(dir.path(), &moto.url);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("DescribeStacks shop-test: Stack with id shop-test does not exist"),
        "{stderr}"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // The spec's region: moto keeps stacks per region, as AWS does.
        let sdk = moto.config().await;
        let config = aws_sdk_cloudformation::config::Builder::from(&sdk)
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        aws_sdk_cloudformation::Client::from_conf(config)
            .create_stack()
            .stack_name("shop-test")
            .template_body(TEMPLATE)
            .send()
            .await
            .unwrap();
    });
    let o = wh_outputs(dir.path(), &moto.url);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(dir.path().join("outputs/shop-test.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        doc["shop-test"]["ApiUrl"],
        "https://abc123.execute-api.eu-west-1.amazonaws.com/live/"
    );
    assert!(
        doc["shop-test"]["ProcessingQueueUrl"]
            .as_str()
            .unwrap()
            .ends_with("/shop-processing-test"),
        "{doc}"
    );
}
