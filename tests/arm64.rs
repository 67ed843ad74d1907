//! ARM64 packaging, end to end: the real `wh build` builds the receiver for aarch64 (twice: the
//! zips are byte-identical), and the zipped `bootstrap` runs under user-mode qemu against a
//! Runtime API on 127.0.0.1, its backends on moto server on 127.0.0.1, answering a signed
//! webhook 200 and a bad signature 401. The slowest test; its build is cached.

#[path = "../runtime/tests/support/mod.rs"]
mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::moto::Moto;
use support::runtime_api::{RuntimeApi, api_event, lambda_env};
use wh_runtime::secret::SecretValue;
use wh_runtime::verify::{Scheme, sign};

const PROVIDERS: [&str; 6] = ["acme", "github", "shopify", "square", "stripe", "svix"];
const SECRET: &str = "whsec_YXJtNjQtc2VjcmV0";

/// The ARM64 build's own target directory: another target triple shares nothing with the host
/// build but build scripts, and a separate directory never waits on the test run's own lock.
fn arm64_target() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| common_repo().join("target"), PathBuf::from);
    base.with_file_name(format!(
        "{}-arm64",
        base.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("target")
    ))
}

fn common_repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn wh_build(out: &Path) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_wh"))
        .current_dir(common_repo())
        .args([
            "build",
            "specs/prod.yaml",
            "--function",
            "receiver",
            "--output-format",
            "json",
            "--out-dir",
        ])
        .arg(out)
        .env("CARGO_TARGET_DIR", arm64_target())
        .stderr(Stdio::inherit())
        .output()
        .expect("wh build runs");
    assert!(o.status.success(), "wh build failed");
    serde_json::from_slice(&o.stdout).expect("the manifest is printed as JSON")
}

fn bootstrap_from(zip_path: &Path, into: &Path) -> PathBuf {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip_path).unwrap()).unwrap();
    let mut entry = archive.by_name("bootstrap").unwrap();
    assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(
        u16::from_le_bytes([bytes[18], bytes[19]]),
        183,
        "e_machine is EM_AARCH64"
    );
    let path = into.join("bootstrap");
    std::fs::write(&path, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn the_receiver_builds_for_arm64_reproducibly_and_runs_under_qemu() {
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let manifest = wh_build(first.path());
    let again = wh_build(second.path());
    assert_eq!(manifest, again, "an unchanged handler keeps its hash");
    let receiver = &manifest["functions"]["receiver"];
    let zip_a = std::fs::read(first.path().join("prod/receiver.zip")).unwrap();
    let zip_b = std::fs::read(second.path().join("prod/receiver.zip")).unwrap();
    assert_eq!(zip_a, zip_b, "zips are byte-identical");
    assert_eq!(receiver["sha256"], wh::build::package::sha256_hex(&zip_a));
    assert!(
        zip_a.len() < 8_000_000,
        "the receiver zip is {} bytes, over 8 MB",
        zip_a.len()
    );
    assert_eq!(manifest["architecture"], "arm64");
    // What wh deploy checks the build against: the handler crates of specs/prod.yaml now.
    let compiled = wh::pipeline::compile(&common_repo().join("specs/prod.yaml")).unwrap();
    assert_eq!(manifest["handlers_sha256"], compiled.handlers_sha256());

    let bootstrap = bootstrap_from(&first.path().join("prod/receiver.zip"), first.path());

    // Backends: moto on loopback, with the table, queue and filled secret the receiver uses.
    let moto = Moto::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (queue_url, secret_arn) = rt.block_on(async {
        let sdk = moto.config().await;
        support::moto::create_table(&sdk, "payments-webhooks-test").await;
        let queue = aws_sdk_sqs::Client::new(&sdk)
            .create_queue()
            .queue_name("payments-processing-test")
            .send()
            .await
            .unwrap();
        let secret = aws_sdk_secretsmanager::Client::new(&sdk)
            .create_secret()
            .name("payments-stripe-test")
            .secret_string(SecretValue::new(SECRET).to_json())
            .send()
            .await
            .unwrap();
        (queue.queue_url.unwrap(), secret.arn.unwrap())
    });

    let body =
        br#"{"id":"evt_arm64","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}"#;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signed = sign(
        &Scheme::Stripe {
            tolerance_secs: 300,
        },
        SECRET,
        body,
        now,
        "",
    )
    .unwrap();
    let forged = vec![(
        "Stripe-Signature".to_owned(),
        format!("t={now},v1={}", "0".repeat(64)),
    )];
    let api = RuntimeApi::start(vec![
        api_event("stripe", &signed, body),
        api_event("stripe", &forged, body),
    ]);

    let qemu = std::env::var("WH_QEMU_AARCH64").expect("WH_QEMU_AARCH64 is not set: run the tests with scripts/test, which installs qemu-user-static");
    let mut env = lambda_env(&api.address, &PROVIDERS, &moto.url);
    env.push(("WH_PROCESSING_QUEUE_URL".into(), queue_url));
    env.push(("WH_SECRET_ARN_STRIPE".into(), secret_arn));
    let mut child = Command::new(qemu)
        .arg(&bootstrap)
        .env("QEMU_LD_PREFIX", "/usr/aarch64-linux-gnu")
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("qemu-aarch64-static runs");
    let accepted = api.answer(Duration::from_secs(60));
    let refused = api.answer(Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();

    let accepted: serde_json::Value =
        serde_json::from_str(&accepted.expect("a first answer").body).unwrap();
    assert_eq!(accepted["statusCode"], 200, "{accepted}");
    let body: serde_json::Value = serde_json::from_str(accepted["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body["webhookId"],
        wh_runtime::model::webhook_id("stripe", "evt_arm64")
    );
    let refused: serde_json::Value =
        serde_json::from_str(&refused.expect("a second answer").body).unwrap();
    assert_eq!(refused["statusCode"], 401, "{refused}");
}

#[test]
fn a_missing_cargo_lambda_is_a_clear_error_not_a_hang() {
    let out = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("WH_CARGO_LAMBDA", "/nonexistent/cargo-lambda"),
        ("PATH", "/usr/bin:/bin"),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wh"));
        command
            .current_dir(common_repo())
            .args(["build", "specs/dev.yaml", "--out-dir"])
            .arg(out.path())
            .env(var, value);
        if var == "PATH" {
            command.env_remove("WH_CARGO_LAMBDA");
        }
        let o = command.output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains("cargo-lambda was not found"), "{stderr}");
        assert!(
            stderr.contains("pip install cargo-lambda==1.9.2 ziglang==0.17.1"),
            "{stderr}"
        );
    }
}
