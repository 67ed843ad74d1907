//! The handler-crate emitter: [`Stack`] -> `generated/<env>/handlers/{receiver,processor,audit}/`.
//!
//! Each crate is a `main` rendered from a minijinja template that passes behaviour (schemes,
//! tolerances, limits, event mappings) to `runtime/`, which holds all the logic. Package and
//! binary names carry the environment (`prod-receiver`) so every environment's crates can be
//! workspace members together; `cargo build` compiles them, so a handler missing a dependency
//! fails the build, never a deployment.

use std::path::PathBuf;

use minijinja::value::Serde;
use minijinja::{Environment, context};
use serde::Serialize;

use crate::emit::OutputFile;
use crate::ir::names::Function;
use crate::ir::{ProviderModel, Stack};
use crate::spec::{Encoding, EventId, Scheme};

/// Where generated crates find `runtime/`, relative to each crate: the repository layout
/// (`generated/<env>/handlers/<function>/` beside `runtime/`).
pub const DEFAULT_RUNTIME_PATH: &str = "../../../../runtime";

const TEMPLATES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("templates/Cargo.toml.j2")),
    ("receiver", include_str!("templates/receiver.rs.j2")),
    ("processor", include_str!("templates/processor.rs.j2")),
    ("audit", include_str!("templates/audit.rs.j2")),
];

/// A provider as the templates need it: Rust expressions, already escaped.
#[derive(Serialize)]
struct ProviderView {
    name: String,
    scheme: String,
    event_id: String,
    family: &'static str,
}

/// A Rust string literal.
fn lit(s: &str) -> String {
    format!("{s:?}")
}

fn provider_view(p: &ProviderModel) -> ProviderView {
    let tolerance = p.tolerance.map_or(300, |t| t.secs_ceil());
    let scheme = match p.scheme {
        Scheme::Stripe => format!("Scheme::Stripe {{ tolerance_secs: {tolerance} }}"),
        Scheme::StandardWebhooks => {
            format!("Scheme::StandardWebhooks {{ tolerance_secs: {tolerance} }}")
        }
        Scheme::Github => "Scheme::Github".to_owned(),
        Scheme::Shopify => "Scheme::Shopify".to_owned(),
        // The URL differs per environment: the runtime reads it from WH_NOTIFICATION_URL_<P>.
        Scheme::Square => "Scheme::Square { notification_url: String::new() }".to_owned(),
        Scheme::HmacSha256 => {
            let h = p.hmac.as_ref();
            let encoding = match h.map(|h| h.encoding) {
                Some(Encoding::Base64) => "Encoding::Base64",
                _ => "Encoding::Hex",
            };
            format!(
                "Scheme::Hmac {{ header: {}.to_owned(), encoding: {encoding}, prefix: {}.to_owned() }}",
                lit(h.map_or("", |h| h.header.as_str())),
                lit(h.map_or("", |h| h.prefix.as_str())),
            )
        }
    };
    let event_id = match &p.event_id {
        EventId::Header(h) => format!("EventIdSource::Header({}.to_owned())", lit(h)),
        EventId::Headers(hs) => format!(
            "EventIdSource::Headers(vec![{}])",
            hs.iter()
                .map(|h| format!("{}.to_owned()", lit(h)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        EventId::JsonPointer(ptr) => format!("EventIdSource::JsonPointer({}.to_owned())", lit(ptr)),
    };
    let family = match p.scheme {
        Scheme::Stripe => "Stripe",
        Scheme::StandardWebhooks => "StandardWebhooks",
        Scheme::Github => "Github",
        Scheme::Shopify => "Shopify",
        Scheme::Square => "Square",
        Scheme::HmacSha256 => "Generic",
    };
    ProviderView {
        name: p.name.clone(),
        scheme,
        event_id,
        family,
    }
}

/// The cargo package (and binary) name of a function's crate: `<env>-<function>`.
pub fn package_name(env: &str, f: Function) -> String {
    format!("{env}-{}", f.slug())
}

/// Renders the three handler crates of `stack`.
pub fn handler_crates(
    stack: &Stack,
    env: &str,
    spec_label: &str,
    runtime_path: &str,
) -> Result<Vec<OutputFile>, minijinja::Error> {
    let mut templates = Environment::new();
    let mut syntax = minijinja::syntax::SyntaxConfig::builder();
    syntax.keep_trailing_newline(true);
    templates.set_syntax(syntax.build()?);
    for (name, source) in TEMPLATES {
        templates.add_template(name, source)?;
    }
    let providers: Vec<ProviderView> = stack.providers.iter().map(provider_view).collect();
    let critical: Vec<String> = stack
        .alerts
        .critical_events
        .iter()
        .map(|e| lit(e))
        .collect();
    let audit_retention = crate::spec::Duration::from_secs(stack.retention.audit_records_secs);
    let common = context! {
        version => env!("CARGO_PKG_VERSION"),
        spec => spec_label,
        stack => format!("{}-{}", stack.name, stack.default_suffix),
        runtime_path => runtime_path,
    };
    let mut files = Vec::new();
    for f in Function::ALL {
        let dir = PathBuf::from(env).join("handlers").join(f.slug());
        let manifest = templates.get_template("Cargo.toml")?.render(context! {
            package => package_name(env, f),
            function => f.slug(),
            ..common.clone()
        })?;
        let main = templates.get_template(f.slug())?.render(context! {
            providers => Serde(&providers),
            uses_encoding => stack.providers.iter().any(|p| p.hmac.is_some()),
            max_payload => stack.api.max_payload.bytes(),
            critical_events => Serde(&critical),
            processed_ttl_secs => stack.retention.processed_items_secs,
            max_receive_count => stack.queues.max_receive_count,
            audit_retention => audit_retention.to_string(),
            audit_retention_secs => stack.retention.audit_records_secs,
            ..common.clone()
        })?;
        files.push(OutputFile {
            path: dir.join("Cargo.toml"),
            contents: manifest,
        });
        files.push(OutputFile {
            path: dir.join("src").join("main.rs"),
            contents: main,
        });
    }
    Ok(files)
}
