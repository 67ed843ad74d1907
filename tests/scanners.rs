//! The scanners a security review runs (pinned, installed by tools/install.sh): cfn-lint with
//! the serverless rules, checkov, and cfn-guard with AWS Control Tower's proactive controls.
//! Every compiled template passes each with no finding beyond its written exceptions; a broken
//! template fails each.

mod common;

use std::path::Path;
use std::process::Command;

use common::tool;

fn cfn_lint(template: &Path) -> std::process::Output {
    Command::new(tool("WH_CFN_LINT"))
        .args(["--append-rules", "cfn_lint_serverless.rules", "--"])
        .arg(template)
        .output()
        .expect("cfn-lint runs")
}

/// checkov over every template in `dir`: (failed checks as "id resource file", passed, skipped).
fn checkov(dir: &Path) -> (Vec<String>, u64, u64) {
    let o = Command::new(tool("WH_CHECKOV"))
        .args([
            "--framework",
            "cloudformation",
            "--skip-download",
            "--quiet",
            "--output",
            "json",
            "--directory",
        ])
        .arg(dir)
        .output()
        .expect("checkov runs");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "checkov output is not JSON ({e}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let failed = report["results"]["failed_checks"]
        .as_array()
        .map(|checks| {
            checks
                .iter()
                .map(|c| {
                    format!(
                        "{} {} {}",
                        c["check_id"].as_str().unwrap_or("?"),
                        c["resource"].as_str().unwrap_or("?"),
                        c["file_path"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let summary = &report["summary"];
    (
        failed,
        summary["passed"].as_u64().unwrap_or(0),
        summary["skipped"].as_u64().unwrap_or(0),
    )
}

/// cfn-guard with the rules at `rules` (a file or the Control Tower directory) over `data` (a
/// template or a directory of them): per template file name, the rules it fails.
fn guard(rules: &Path, data: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
    let o = Command::new(tool("WH_CFN_GUARD"))
        .args([
            "validate",
            "--structured",
            "--show-summary",
            "none",
            "--output-format",
            "json",
            "--rules",
        ])
        .arg(rules)
        .arg("--data")
        .arg(data)
        .output()
        .expect("cfn-guard runs");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "cfn-guard output is not JSON ({e}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    report
        .as_array()
        .expect("one report per template")
        .iter()
        .map(|file| {
            let name = Path::new(file["name"].as_str().unwrap_or("?"))
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let failed = file["not_compliant"]
                .as_array()
                .map(|rules| {
                    rules
                        .iter()
                        .filter_map(|r| r["Rule"]["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            (name, failed)
        })
        .collect()
}

/// The Control Tower rule file that defines `rule`.
fn guard_rule_file(rule: &str) -> std::path::PathBuf {
    let mut dirs = vec![tool("WH_CT_GUARD_RULES")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if std::fs::read_to_string(&path)
                .is_ok_and(|text| text.contains(&format!("rule {rule} when")))
            {
                return path;
            }
        }
    }
    panic!("no Control Tower rule named {rule}")
}

/// Control Tower's rules do not read suppressions (cfn-guard has none of its own), so a written
/// exception is honoured here, exactly: a rule that fails a template must pass the same template
/// once the resources that suppress it (`Metadata.guard.SuppressedRules`) are taken out.
fn guard_failures_beyond_exceptions(dir: &Path) -> Vec<String> {
    let mut unexplained = Vec::new();
    for (file, rules) in guard(&tool("WH_CT_GUARD_RULES"), dir) {
        let template: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(&file)).unwrap()).unwrap();
        for rule in rules {
            let mut reduced = template.clone();
            let resources = reduced["Resources"].as_object_mut().unwrap();
            let before = resources.len();
            resources.retain(|_, r| {
                !r["Metadata"]["guard"]["SuppressedRules"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|x| x == rule.as_str()))
            });
            if resources.len() == before {
                unexplained.push(format!("{file}: {rule} (no written exception)"));
                continue;
            }
            let scratch = tempfile::tempdir().unwrap();
            let path = scratch.path().join(&file);
            std::fs::write(&path, reduced.to_string()).unwrap();
            if !guard(&guard_rule_file(&rule), &path)
                .values()
                .all(Vec::is_empty)
            {
                unexplained.push(format!(
                    "{file}: {rule} (fails on resources without a written exception)"
                ));
            }
        }
    }
    unexplained
}

/// The shipped specs and variants that switch on every optional part.
fn compiled_specs() -> Vec<(String, String)> {
    let prod = std::fs::read_to_string(common::repo().join("specs/prod.yaml")).unwrap();
    let dev = std::fs::read_to_string(common::repo().join("specs/dev.yaml")).unwrap();
    vec![
        (
            "domain".to_owned(),
            prod.clone()
                + "\ndomain:\n  name: hooks.example.com\n  certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abc\n",
        ),
        ("prod".to_owned(), prod),
        ("dev".to_owned(), dev),
        ("base".to_owned(), common::BASE.to_owned()),
        (
            "existing-secret".to_owned(),
            common::edit(&[
                (
                    "    scheme: stripe",
                    "    scheme: stripe\n    secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:stripe-AbCdEf",
                ),
                (
                    "  max_payload: 64KiB",
                    "  max_payload: 64KiB\n  exempt_cidrs: [\"2001:db8::/32\"]",
                ),
            ]),
        ),
        (
            "no-managed-rules".to_owned(),
            common::BASE.to_owned() + "waf:\n  managed_rules: []\n",
        ),
    ]
}

fn compile_all(dir: &Path) -> Vec<std::path::PathBuf> {
    compiled_specs()
        .into_iter()
        .map(|(name, text)| {
            let spec = common::write_spec(dir, &format!("{name}.yaml"), &text);
            let c = wh::pipeline::compile(&spec).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let template = dir.join(format!("{name}.json"));
            std::fs::write(&template, &c.files[0].contents).unwrap();
            std::fs::remove_file(spec).unwrap();
            template
        })
        .collect()
}

#[test]
fn every_compiled_template_is_lint_and_serverless_rules_clean() {
    let dir = tempfile::tempdir().unwrap();
    for template in compile_all(dir.path()) {
        let o = cfn_lint(&template);
        assert!(
            o.status.success() && o.stdout.is_empty(),
            "{}: cfn-lint found:\n{}{}",
            template.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn the_bootstrap_template_is_lint_clean() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bootstrap.json");
    let text = wh::emit::cloudformation::render(&wh::deploy::bootstrap::template(
        &wh::deploy::bootstrap::ApiLogging::Own,
    ));
    std::fs::write(&path, text).unwrap();
    let o = cfn_lint(&path);
    assert!(
        o.status.success() && o.stdout.is_empty(),
        "cfn-lint found:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn every_compiled_template_is_checkov_clean_beyond_written_exceptions() {
    let dir = tempfile::tempdir().unwrap();
    let templates = compile_all(dir.path());
    let (failed, passed, skipped) = checkov(dir.path());
    assert!(failed.is_empty(), "checkov failed:\n{}", failed.join("\n"));
    assert!(
        passed >= 60 * templates.len() as u64,
        "checkov ran only {passed} checks"
    );
    assert!(skipped > 0, "the written exceptions are honoured as skips");
}

#[test]
fn every_compiled_template_passes_control_towers_rules_beyond_written_exceptions() {
    let dir = tempfile::tempdir().unwrap();
    let templates = compile_all(dir.path());
    let unexplained = guard_failures_beyond_exceptions(dir.path());
    assert!(unexplained.is_empty(), "{}", unexplained.join("\n"));
    assert_eq!(
        guard(&tool("WH_CT_GUARD_RULES"), dir.path()).len(),
        templates.len()
    );
}

#[test]
fn control_towers_rules_fail_a_key_open_to_grants_and_a_function_without_its_exception() {
    let mut t = common::repo_template("prod");
    let statements = t["Resources"]["EncryptionKey"]["Properties"]["KeyPolicy"]["Statement"]
        .as_array_mut()
        .unwrap();
    statements.retain(|s| s["Sid"] != "GrantsOnlyForAwsResources");
    t["Resources"]["ReceiverFunction"]["Metadata"]
        .as_object_mut()
        .unwrap()
        .remove("guard");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.json"), t.to_string()).unwrap();
    let unexplained = guard_failures_beyond_exceptions(dir.path());
    assert_eq!(
        unexplained,
        [
            "broken.json: kms_create_grant_aws_service_check (no written exception)",
            "broken.json: lambda_inside_vpc_check (fails on resources without a written exception)",
        ]
    );
}

#[test]
fn the_checkov_step_fails_on_an_unencrypted_log_group() {
    let mut t = common::repo_template("prod");
    t["Resources"]["ReceiverLogGroup"]["Properties"]
        .as_object_mut()
        .unwrap()
        .remove("KmsKeyId");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("unencrypted.json"),
        serde_json::to_string_pretty(&t).unwrap(),
    )
    .unwrap();
    let (failed, _, _) = checkov(dir.path());
    assert!(
        failed
            .iter()
            .any(|f| f.starts_with("CKV_AWS_158 AWS::Logs::LogGroup.ReceiverLogGroup")),
        "{failed:?}"
    );
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

#[test]
fn the_serverless_rules_fail_a_queue_without_its_dlq() {
    let mut t = common::repo_template("prod");
    t["Resources"]["ProcessingQueue"]["Properties"]
        .as_object_mut()
        .unwrap()
        .remove("RedrivePolicy");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-dlq.json");
    std::fs::write(&path, serde_json::to_string_pretty(&t).unwrap()).unwrap();
    let o = cfn_lint(&path);
    assert!(!o.status.success());
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        report.contains("ES6000 SQS Queue ProcessingQueue"),
        "{report}"
    );
}
