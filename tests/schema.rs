//! The committed JSON Schema accepts the shipped specs and refuses what the loader refuses,
//! checked with a real JSON Schema validator (Python jsonschema, pinned).

mod common;

use std::process::Command;

const VALIDATE: &str = r#"
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft7Validator(schema)
for path in sys.argv[2:]:
    errors = sorted(validator.iter_errors(yaml.safe_load(open(path))), key=str)
    print(path, "ok" if not errors else "invalid: " + errors[0].message)
"#;

fn validate(paths: &[&std::path::Path]) -> String {
    let schema = common::repo().join("specs/schema.json");
    let o = Command::new(common::tool("WH_SCHEMA_PYTHON"))
        .arg("-c")
        .arg(VALIDATE)
        .arg(schema)
        .args(paths)
        .output()
        .expect("python runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn editors_accept_the_shipped_specs_and_refuse_unknown_fields() {
    let dir = tempfile::tempdir().unwrap();
    let unknown = common::write_spec(
        dir.path(),
        "unknown.yaml",
        &common::edit(&[("    scheme: stripe", "    scheme: stripe\n    secret: x")]),
    );
    let bad_unit = common::write_spec(
        dir.path(),
        "unit.yaml",
        &common::edit(&[("  api_rate: 100/s", "  api_rate: 100 per second")]),
    );
    let bad_scheme = common::write_spec(
        dir.path(),
        "scheme.yaml",
        &common::edit(&[("    scheme: stripe", "    scheme: paypal")]),
    );
    let repo = common::repo();
    let (prod, dev) = (repo.join("specs/prod.yaml"), repo.join("specs/dev.yaml"));
    let report = validate(&[&prod, &dev, &unknown, &bad_unit, &bad_scheme]);
    let lines: Vec<&str> = report.lines().collect();
    assert!(lines[0].ends_with("prod.yaml ok"), "{report}");
    assert!(lines[1].ends_with("dev.yaml ok"), "{report}");
    assert!(lines[2].contains("'secret' was unexpected"), "{report}");
    assert!(lines[3].contains("does not match"), "{report}");
    assert!(lines[4].contains("'paypal' is not valid"), "{report}");
}
