//! Providers: names, and the fields each signature scheme needs or ignores.

use super::{Finding, Problem, finding};
use crate::ir::names::is_lower_kebab;
use crate::spec::{EventId, Lifecycle, Loc, Provider, Scheme, Spec};

pub(super) fn check(spec: &Spec, out: &mut Vec<Finding>) {
    if spec.providers.is_empty() {
        out.push(finding(
            &spec.providers,
            spec.providers.at,
            "providers",
            Problem::NoProviders,
        ));
    }
    let mut titles = std::collections::BTreeMap::new();
    for (name, provider) in spec.providers.iter() {
        if let Some(other) = titles.insert(crate::ir::pascal(name), name.value.clone()) {
            out.push(finding(
                name,
                spec.providers.at,
                "providers",
                Problem::ProviderNameClash(other, name.value.clone()),
            ));
        }
        let valid_name = name.len() <= 32
            && is_lower_kebab(name)
            && name.starts_with(|c: char| c.is_ascii_lowercase());
        if !valid_name {
            out.push(finding(
                name,
                spec.providers.at,
                "providers",
                Problem::BadProviderName(name.value.clone()),
            ));
        }
        check_provider(
            &format!("providers.{}", name.value),
            name,
            provider,
            spec.lifecycle.value,
            out,
        );
    }
}

fn check_provider(
    path: &str,
    name: &Loc<String>,
    p: &Provider,
    lifecycle: Lifecycle,
    out: &mut Vec<Finding>,
) {
    let scheme = p.scheme.value;
    let at = name.at;
    let misplaced = |field: &'static str, only_for: &'static str| Problem::FieldNotForScheme {
        field,
        scheme: scheme.as_str(),
        only_for,
    };

    match &p.tolerance {
        Some(t) if !scheme.signs_timestamp() => {
            out.push(finding(
                t,
                at,
                format!("{path}.tolerance"),
                misplaced("tolerance", "stripe and standard-webhooks"),
            ));
        }
        Some(t) if t.as_millis() < 1_000 || t.as_millis() > 3_600_000 => {
            out.push(finding(
                t,
                at,
                format!("{path}.tolerance"),
                Problem::ToleranceRange(t.to_string()),
            ));
        }
        _ => {}
    }

    if scheme != Scheme::Square {
        if let Some(url) = &p.notification_url {
            out.push(finding(
                url,
                at,
                format!("{path}.notification_url"),
                misplaced("notification_url", "square"),
            ));
        }
    } else if let Some(url) = &p.notification_url {
        let host = url.strip_prefix("https://").unwrap_or("");
        let rendered = url.replace(crate::ir::SUFFIX_PLACEHOLDER, "x");
        if host.is_empty()
            || host.starts_with('/')
            || url.contains(char::is_whitespace)
            || rendered.contains(['{', '}', '$'])
        {
            out.push(finding(
                url,
                at,
                format!("{path}.notification_url"),
                Problem::BadNotificationUrl(url.value.clone()),
            ));
        } else if lifecycle == Lifecycle::Ephemeral && !url.contains(crate::ir::SUFFIX_PLACEHOLDER)
        {
            out.push(finding(
                url,
                at,
                format!("{path}.notification_url"),
                Problem::SharedNotificationUrl(url.value.clone()),
            ));
        }
    }

    if scheme == Scheme::HmacSha256 {
        let required = [
            (
                "header",
                p.header.is_some(),
                "the name of the header that carries the signature",
            ),
            ("encoding", p.encoding.is_some(), "hex or base64"),
            (
                "event_id",
                p.event_id.is_some(),
                "a `header` or `json_pointer` naming the provider's event id, so redeliveries are recognised",
            ),
        ];
        for (field, present, why) in required {
            if !present {
                out.push(Finding {
                    at: p.scheme.at,
                    path: format!("{path}.{field}"),
                    problem: Problem::MissingForScheme {
                        field,
                        scheme: scheme.as_str(),
                        why,
                    },
                });
            }
        }
    } else {
        for (field, value) in [("header", &p.header), ("prefix", &p.prefix)] {
            if let Some(v) = value {
                out.push(finding(
                    v,
                    at,
                    format!("{path}.{field}"),
                    misplaced(field, "hmac-sha256"),
                ));
            }
        }
        if let Some(v) = &p.encoding {
            out.push(finding(
                v,
                at,
                format!("{path}.encoding"),
                misplaced("encoding", "hmac-sha256"),
            ));
        }
    }

    if let Some(header) = &p.header
        && !is_header_name(header)
    {
        out.push(finding(
            header,
            at,
            format!("{path}.header"),
            Problem::BadHeader(header.value.clone()),
        ));
    }
    if let Some(event_id) = &p.event_id {
        match &event_id.value {
            EventId::Header(h) if !is_header_name(h) => {
                out.push(finding(
                    event_id,
                    at,
                    format!("{path}.event_id.header"),
                    Problem::BadHeader(h.clone()),
                ));
            }
            EventId::Headers(hs) if hs.is_empty() => {
                out.push(finding(
                    event_id,
                    at,
                    format!("{path}.event_id.headers"),
                    Problem::NoEventIdHeaders,
                ));
            }
            EventId::Headers(hs) => {
                for h in hs.iter().filter(|h| !is_header_name(h)) {
                    out.push(finding(
                        event_id,
                        at,
                        format!("{path}.event_id.headers"),
                        Problem::BadHeader(h.clone()),
                    ));
                }
            }
            EventId::JsonPointer(ptr) if !ptr.starts_with('/') => {
                out.push(finding(
                    event_id,
                    at,
                    format!("{path}.event_id.json_pointer"),
                    Problem::BadJsonPointer(ptr.clone()),
                ));
            }
            _ => {}
        }
    }
    if let Some(arn) = &p.secret_arn
        && !is_secret_arn(arn)
    {
        out.push(finding(
            arn,
            at,
            format!("{path}.secret_arn"),
            Problem::BadSecretArn(arn.value.clone()),
        ));
    }
}

/// An RFC 9110 token made of the characters header names use in practice.
fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn is_secret_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(7, ':').collect();
    parts.len() == 7
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "secretsmanager"
        && super::stack::is_region(parts[3])
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5] == "secret"
        && !parts[6].is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_arns() {
        assert!(is_secret_arn(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:stripe-AbCdEf"
        ));
        assert!(!is_secret_arn(
            "arn:aws:secretsmanager:us-east-1:123456789012:stripe"
        ));
        assert!(!is_secret_arn("stripe"));
    }

    #[test]
    fn header_names() {
        assert!(is_header_name("X-Hub-Signature-256"));
        assert!(!is_header_name("X Hub"));
        assert!(!is_header_name(""));
    }
}
