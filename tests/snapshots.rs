//! insta snapshots of what people read: the stack's shape, the compile summary and the errors.

mod common;

use common::{edit, errors, repo_template};

#[test]
fn prod_resources_by_logical_id_and_type() {
    let t = repo_template("prod");
    let shape: Vec<String> = t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, r)| format!("{id}: {}", r["Type"].as_str().unwrap()))
        .collect();
    insta::assert_snapshot!(shape.join("\n"));
}

#[test]
fn prod_derived_values() {
    let c = wh::pipeline::compile(&common::repo().join("specs/prod.yaml")).unwrap();
    insta::assert_json_snapshot!(c.stack.derived());
}

#[test]
fn prod_capacity_model() {
    let c = wh::pipeline::compile(&common::repo().join("specs/prod.yaml")).unwrap();
    insta::assert_json_snapshot!(wh::ir::capacity::model(&c.stack));
}

#[test]
fn a_spec_with_the_seed_stacks_mistakes() {
    // The hand-written stack's deploy failures, in spec form: reservations above a small
    // account's quota, and a receiver too small for the rate. (Its WAF mistake, a limit of 600
    // per 5 minutes called 10/s, cannot be written: a spec states the rate, wh derives the limit.)
    let e = errors(&edit(&[
        ("    reserved: 10", "    reserved: 100"),
        ("  receiver:", "  account_limit: 150\n  receiver:"),
        ("    expected_duration: 50ms", "    expected_duration: 2s"),
        ("    reserved: 2", "    reserved: 50"),
    ]));
    insta::assert_snapshot!(e);
}
