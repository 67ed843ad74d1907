//! Fuzzing the spec loader and checks on stable, inside `cargo test`: `specs/prod.yaml` and
//! `specs/dev.yaml` with lines dropped, doubled, swapped, values replaced and bytes inserted.
//! Properties: compiling never panics; a rejection always says where (line and column from
//! 1); an accepted spec emits a template that is JSON.
//!
//! The properties are shared with the libFuzzer target (`fuzz/`): `common/fuzz_spec.rs`.
//!
//! `WH_FUZZ_CASES` sets the cases (default 200, seconds in CI); `scripts/fuzz` runs more.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use wh::pipeline::compile_source;

#[path = "common/fuzz_spec.rs"]
mod harness;

fn cases(default: u32) -> u32 {
    std::env::var("WH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One edit of a spec's lines.
#[derive(Clone, Debug)]
enum Edit {
    Drop(usize),
    Double(usize),
    Swap(usize, usize),
    /// The text after the line's first `:` replaced.
    Value(usize, String),
    /// Text inserted in the line at a byte offset.
    Insert(usize, usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let value = prop_oneof![
        Just(String::new()),
        "-?[0-9]{1,25}",
        "[0-9]{1,6}(/s|/m|ms|s|m|h|d|KiB|MiB|GiB|KB)",
        "-?[0-9.e+]{1,12}/s",
        "[a-z0-9:/._-]{0,40}",
        Just("{}".to_owned()),
        Just("[]".to_owned()),
        Just("~".to_owned()),
        Just("\"\"".to_owned()),
        Just("{ header: X }".to_owned()),
        Just("{ headers: [] }".to_owned()),
        Just("{ json_pointer: id }".to_owned()),
        Just("0.0.0.0/0".to_owned()),
        Just("2001:db8::/129".to_owned()),
        any::<String>(),
    ];
    prop_oneof![
        1 => any::<usize>().prop_map(Edit::Drop),
        1 => any::<usize>().prop_map(Edit::Double),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        4 => (any::<usize>(), value).prop_map(|(a, v)| Edit::Value(a, v)),
        1 => (any::<usize>(), any::<usize>(), "[\\PC:{}\\[\\]\t #&*!|>'\"%@`-]{1,6}")
            .prop_map(|(a, b, t)| Edit::Insert(a, b, t)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for e in edits {
        let n = lines.len().max(1);
        match e {
            Edit::Drop(i) if !lines.is_empty() => {
                lines.remove(i % n);
            }
            Edit::Double(i) if !lines.is_empty() => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::Swap(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Edit::Value(i, v) if !lines.is_empty() => {
                let l = &mut lines[i % n];
                if let Some(colon) = l.find(':') {
                    l.truncate(colon + 1);
                    l.push(' ');
                    l.push_str(v);
                }
            }
            Edit::Insert(i, at, t) if !lines.is_empty() => {
                let l = &mut lines[i % n];
                let mut at = at % (l.len() + 1);
                while !l.is_char_boundary(at) {
                    at -= 1;
                }
                l.insert_str(at, t);
            }
            _ => {}
        }
    }
    lines.join("\n") + "\n"
}

#[test]
fn every_spec_compiles_or_is_refused_with_a_place() {
    let root = env!("CARGO_MANIFEST_DIR");
    let specs: Vec<String> = ["specs/prod.yaml", "specs/dev.yaml"]
        .iter()
        .map(|p| std::fs::read_to_string(Path::new(root).join(p)).unwrap())
        .collect();
    let mut runner = TestRunner::new(Config {
        cases: cases(200),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (0..specs.len(), proptest::collection::vec(edit(), 1..4));
    runner
        .run(&strategy, |(which, edits)| {
            let text = apply(&specs[which], &edits);
            harness::check_spec(&text).map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn the_unedited_specs_compile_so_the_fuzzer_starts_from_valid_input() {
    let root = env!("CARGO_MANIFEST_DIR");
    for p in ["specs/prod.yaml", "specs/dev.yaml"] {
        let text = std::fs::read_to_string(Path::new(root).join(p)).unwrap();
        assert!(
            compile_source(Path::new(p), &apply(&text, &[])).is_ok(),
            "{p}"
        );
    }
}
