//! The generated handler crates: one per function and environment, named per environment,
//! depending on `runtime/`, carrying behaviour only. (They are workspace members, so the test
//! command's build compiles every one of them.)

mod common;

use std::collections::BTreeSet;

fn files(env: &str) -> Vec<(String, String)> {
    let c = wh::pipeline::compile(&common::repo().join(format!("specs/{env}.yaml"))).unwrap();
    c.files
        .into_iter()
        .map(|f| (f.path.display().to_string(), f.contents))
        .collect()
}

fn file(env: &str, path: &str) -> String {
    files(env)
        .into_iter()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("{path} not generated"))
        .1
}

#[test]
fn three_crates_per_environment_with_unique_names() {
    let mut packages = BTreeSet::new();
    for env in ["prod", "dev"] {
        for f in ["receiver", "processor", "audit"] {
            let manifest = file(env, &format!("{env}/handlers/{f}/Cargo.toml"));
            let doc: toml_like::Manifest = toml_like::parse(&manifest);
            assert_eq!(doc.package, format!("{env}-{f}"));
            assert_eq!(
                doc.bin,
                format!("{env}-{f}"),
                "the zip carries it as bootstrap; the name only has to be unique"
            );
            assert!(
                manifest.contains(
                    r#"wh-runtime = { path = "../../../../runtime", features = ["aws"] }"#
                ),
                "{manifest}"
            );
            assert!(packages.insert(doc.package));
        }
    }
    let workspace = std::fs::read_to_string(common::repo().join("Cargo.toml")).unwrap();
    assert!(
        workspace.contains(r#""generated/*/handlers/*""#),
        "generated crates are workspace members"
    );
}

#[test]
fn the_receiver_bakes_in_schemes_and_limits_but_no_names() {
    let main = file("prod", "prod/handlers/receiver/src/main.rs");
    for expected in [
        r#"Scheme::Stripe { tolerance_secs: 300 }"#,
        r#"Scheme::StandardWebhooks { tolerance_secs: 300 }"#,
        r#"Scheme::Hmac { header: "X-Acme-Signature".to_owned(), encoding: Encoding::Hex, prefix: "sha256=".to_owned() }"#,
        r#"EventIdSource::Header("X-GitHub-Delivery".to_owned())"#,
        r#"EventIdSource::JsonPointer("/event_id".to_owned())"#,
        "max_payload: 262144",
        "wh_runtime::lambda::run_receiver(config)",
    ] {
        assert!(main.contains(expected), "{expected} in\n{main}");
    }
    for (path, contents) in files("prod")
        .into_iter()
        .filter(|(p, _)| p.ends_with("main.rs"))
    {
        let code: Vec<&str> = contents
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect();
        for name in ["payments-", "arn:aws", "execute-api", "us-east-1", "prod"] {
            assert!(
                !code.iter().any(|l| l.contains(name)),
                "{path} bakes in {name}: names come from the environment"
            );
        }
    }
}

#[test]
fn processor_and_audit_carry_their_behaviour() {
    let processor = file("prod", "prod/handlers/processor/src/main.rs");
    for expected in [
        r#"("stripe".to_owned(), Family::Stripe)"#,
        r#"("acme".to_owned(), Family::Generic)"#,
        r#""charge.dispute.created".to_owned()"#,
        "processed_ttl_secs: 7776000",
        "max_receive_count: 5",
    ] {
        assert!(processor.contains(expected), "{expected} in\n{processor}");
    }
    let audit = file("dev", "dev/handlers/audit/src/main.rs");
    assert!(audit.contains("run_audit(2592000)"), "{audit}");
}

#[test]
fn a_custom_runtime_path_is_written_into_every_manifest() {
    let out = tempfile::tempdir().unwrap();
    let o = common::wh()
        .args([
            "compile",
            "--quiet",
            "--runtime-path",
            "../../vendor/wh-runtime",
            "--out-dir",
        ])
        .arg(out.path())
        .arg("specs/dev.yaml")
        .output()
        .unwrap();
    assert!(o.status.success());
    let manifest =
        std::fs::read_to_string(out.path().join("dev/handlers/processor/Cargo.toml")).unwrap();
    assert!(
        manifest
            .contains(r#"wh-runtime = { path = "../../vendor/wh-runtime", features = ["aws"] }"#)
    );
}

/// Just enough TOML reading for the two names the test needs.
mod toml_like {
    pub struct Manifest {
        pub package: String,
        pub bin: String,
    }

    pub fn parse(text: &str) -> Manifest {
        let names: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("name = \""))
            .map(|rest| rest.trim_end_matches('"').to_owned())
            .collect();
        Manifest {
            package: names[0].clone(),
            bin: names[1].clone(),
        }
    }
}
