//! cfn-lint (pinned, installed by tools/install.sh) passes every compiled template with no
//! error and no warning, and fails a broken one.

mod common;

use std::path::Path;
use std::process::Command;

use common::tool;

fn cfn_lint(template: &Path) -> std::process::Output {
    Command::new(tool("WH_CFN_LINT")).arg("--").arg(template).output().expect("cfn-lint runs")
}

fn compiled_specs() -> Vec<(String, String)> {
    let mut specs = vec![
        ("prod".to_owned(), std::fs::read_to_string(common::repo().join("specs/prod.yaml")).unwrap()),
        ("dev".to_owned(), std::fs::read_to_string(common::repo().join("specs/dev.yaml")).unwrap()),
        ("base".to_owned(), common::BASE.to_owned()),
    ];
    // The optional parts: a custom domain, an existing secret, IPv6-only exemptions.
    let prod = &specs[0].1;
    specs.push((
        "domain".to_owned(),
        prod.clone() + "\ndomain:\n  name: hooks.example.com\n  certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abc\n",
    ));
    specs.push((
        "existing-secret".to_owned(),
        common::edit(&[
            (
                "    scheme: stripe",
                "    scheme: stripe\n    secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:stripe-AbCdEf",
            ),
            ("  max_payload: 64KiB", "  max_payload: 64KiB\n  exempt_cidrs: [\"2001:db8::/32\"]"),
        ]),
    ));
    specs
}

#[test]
fn every_compiled_template_is_lint_clean() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in compiled_specs() {
        let spec = common::write_spec(dir.path(), &format!("{name}.yaml"), &text);
        let c = wh::pipeline::compile(&spec).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let template = dir.path().join(format!("{name}.json"));
        std::fs::write(&template, &c.files[0].contents).unwrap();
        let o = cfn_lint(&template);
        assert!(
            o.status.success() && o.stdout.is_empty(),
            "{name}: cfn-lint found:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn the_lint_step_fails_on_a_broken_template() {
    let mut t = common::repo_template("prod");
    t["Resources"]["ReceiverFunction"]["Properties"]["Runtime"] = "python2.7".into();
    t["Resources"]["ProcessingQueue"]["Properties"]["VisibilityTimeout"] = 50_000.into();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, serde_json::to_string_pretty(&t).unwrap()).unwrap();
    let o = cfn_lint(&path);
    assert!(!o.status.success());
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(report.contains("python2.7"), "{report}");
    assert!(report.contains("50000"), "{report}");
}
