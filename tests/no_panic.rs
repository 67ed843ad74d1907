//! No input makes `wh compile` panic: every mangled spec is compiled or rejected with a message.

mod common;

use std::panic::catch_unwind;

fn survives(text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_spec(dir.path(), "spec.yaml", text);
    let result = catch_unwind(|| wh::pipeline::compile(&path).map(|_| ()));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => assert!(!format!("{e:?}").is_empty()),
        Err(_) => panic!("compile panicked on:\n{text}"),
    }
}

#[test]
fn every_truncation_of_the_prod_spec() {
    let prod = std::fs::read_to_string(common::repo().join("specs/prod.yaml")).unwrap();
    let cuts: Vec<usize> = (0..prod.len())
        .filter(|i| prod.is_char_boundary(*i))
        .step_by(5)
        .collect();
    for cut in cuts {
        survives(&prod[..cut]);
    }
}

#[test]
fn every_line_removed_or_doubled() {
    let prod = std::fs::read_to_string(common::repo().join("specs/prod.yaml")).unwrap();
    let lines: Vec<&str> = prod.lines().collect();
    for i in 0..lines.len() {
        let mut removed = lines.clone();
        removed.remove(i);
        survives(&removed.join("\n"));
        let mut doubled = lines.clone();
        doubled.insert(i, lines[i]);
        survives(&doubled.join("\n"));
    }
}

#[test]
fn hostile_values() {
    let values = [
        "",
        "~",
        "-1",
        "18446744073709551616",
        "99999999999999999999d",
        "0s",
        "0/s",
        "1e9",
        "[]",
        "{}",
        "\"\"",
        "!!binary aGVsbG8=",
        "*alias",
        "&anchor x",
        "'\u{0}'",
        "ü",
        "0x10",
        ".inf",
        "NaN",
    ];
    let base = common::BASE;
    for value in values {
        for line in base.lines().filter(|l| l.contains(": ")) {
            let key = line.split(": ").next().unwrap();
            survives(&base.replacen(line, &format!("{key}: {value}"), 1));
        }
    }
    for junk in [
        "\u{feff}",
        "---\n---\n",
        "a: [",
        "\t- x",
        "key: &a [*a]",
        &"[".repeat(10_000),
        "\u{0}\u{1}\u{2}",
    ] {
        survives(junk);
    }
}
