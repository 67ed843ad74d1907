//! A stack on moto for the tests of the commands that deploy and operate it: a working
//! directory with a spec and a stand-in build, the real `wh` pointed at moto, SDK helpers.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use aws_sdk_sqs::types::QueueAttributeName;
use wh::build::package::{PackagedFunction, lambda_zip};
use wh::ir::names::Function;

use crate::moto;

pub const BUCKET: &str = "wh-artifacts-123456789012-eu-west-1";

/// A working directory with the spec and a build: real zips of stand-in executables (moto
/// never runs them; the arm64 build itself is tested in arm64.rs).
pub fn workdir(spec: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.yaml"), spec).unwrap();
    let dist = dir.path().join("dist/spec");
    std::fs::create_dir_all(&dist).unwrap();
    let mut functions = serde_json::Map::new();
    for f in Function::ALL {
        let zip = lambda_zip(format!("stand-in {}", f.slug()).as_bytes()).unwrap();
        let entry = PackagedFunction::new("shop-test", f.slug(), &zip);
        std::fs::write(dist.join(&entry.zip), &zip).unwrap();
        functions.insert(f.slug().into(), serde_json::to_value(entry).unwrap());
    }
    let compiled = wh::pipeline::compile(&dir.path().join("spec.yaml")).unwrap();
    let manifest = serde_json::json!({
        "stack": "shop-test",
        "handlers_sha256": compiled.handlers_sha256(),
        "functions": functions,
    });
    std::fs::write(dist.join("manifest.json"), manifest.to_string()).unwrap();
    dir
}

pub fn wh(dir: &Path, moto: &moto::Moto, args: &[&str]) -> Output {
    wh_command(dir, moto, args).output().unwrap()
}

pub fn wh_command(dir: &Path, moto: &moto::Moto, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wh"));
    cmd.current_dir(dir)
        .args(args)
        .args(["spec.yaml", "--endpoint-url", &moto.url, "--poll", "100ms"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .stdin(std::process::Stdio::null());
    cmd
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub async fn sdk(moto: &moto::Moto) -> aws_config::SdkConfig {
    moto.config()
        .await
        .into_builder()
        .region(aws_config::Region::new("eu-west-1"))
        .build()
}

pub async fn queue_attribute(
    sdk: &aws_config::SdkConfig,
    queue: &str,
    name: QueueAttributeName,
) -> String {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let url = sqs
        .get_queue_url()
        .queue_name(queue)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    attrs[&name].clone()
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
