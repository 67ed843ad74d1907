//! Names: the stack name, suffix, region, stage, every physical name, and the custom domain.

use super::{Finding, Problem, finding};
use crate::ir::alarm_slugs;
use crate::ir::names::{MAX_SUFFIX_LEN, Names, is_lower_kebab, is_valid_suffix};
use crate::spec::{Lifecycle, Spec};

pub(super) fn check(spec: &Spec, out: &mut Vec<Finding>) {
    let top = spec.name.at;
    let name_ok =
        is_lower_kebab(&spec.name) && spec.name.starts_with(|c: char| c.is_ascii_lowercase());
    if !name_ok {
        out.push(finding(
            &spec.name,
            top,
            "name",
            Problem::BadName(spec.name.value.clone()),
        ));
    }
    if !is_valid_suffix(&spec.suffix) {
        out.push(finding(
            &spec.suffix,
            top,
            "suffix",
            Problem::BadSuffix(spec.suffix.value.clone()),
        ));
    }
    if !is_region(&spec.region) {
        out.push(finding(
            &spec.region,
            top,
            "region",
            Problem::BadRegion(spec.region.value.clone()),
        ));
    }
    let stage_ok = (1..=128).contains(&spec.stage.len())
        && spec
            .stage
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !stage_ok {
        out.push(finding(
            &spec.stage,
            top,
            "stage",
            Problem::BadStage(spec.stage.value.clone()),
        ));
    }
    if name_ok {
        physical_names(spec, out);
    }
    if let Some(domain) = &spec.domain {
        if *spec.lifecycle != Lifecycle::Retain {
            out.push(finding(domain, top, "domain", Problem::DomainNeedsRetain));
        }
        if !is_domain(&domain.name) {
            out.push(finding(
                &domain.name,
                domain.at,
                "domain.name",
                Problem::BadDomain(domain.name.value.clone()),
            ));
        }
        if !is_certificate_arn(&domain.certificate_arn, &spec.region) {
            out.push(finding(
                &domain.certificate_arn,
                domain.at,
                "domain.certificate_arn",
                Problem::BadCertificateArn {
                    value: domain.certificate_arn.value.clone(),
                    region: spec.region.value.clone(),
                },
            ));
        }
    }
}

/// Every physical name must fit its service's rule with the longest suffix the template takes.
fn physical_names(spec: &Spec, out: &mut Vec<Finding>) {
    let longest = "x".repeat(MAX_SUFFIX_LEN);
    let names = Names::new(&spec.name, &longest);
    let created: Vec<&str> = spec
        .providers
        .iter()
        .filter(|(_, p)| p.secret_arn.is_none())
        .map(|(name, _)| name.value.as_str())
        .collect();
    for (physical, rule) in names.all(&created, &alarm_slugs()) {
        if let Some(detail) = rule.violation(&physical) {
            out.push(finding(
                &spec.name,
                spec.name.at,
                "name",
                Problem::BadPhysicalName {
                    kind: rule.kind,
                    name: physical,
                    detail,
                },
            ));
        }
    }
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `ap-southeast-5`.
pub(crate) fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts
            .iter()
            .take(parts.len() - 1)
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

fn is_domain(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.')
            .all(|label| (1..=63).contains(&label.len()) && is_lower_kebab(label))
}

fn is_certificate_arn(s: &str, region: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "acm"
        && parts[3] == region
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5]
            .strip_prefix("certificate/")
            .is_some_and(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        for good in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-5",
        ] {
            assert!(is_region(good), "{good}");
        }
        for bad in [
            "us-east",
            "US-EAST-1",
            "useast1",
            "us-east-x",
            "u-east-1",
            "",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn certificate_arns_must_be_in_the_region() {
        let arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc";
        assert!(is_certificate_arn(arn, "eu-west-1"));
        assert!(!is_certificate_arn(arn, "us-east-1"));
        assert!(!is_certificate_arn(
            "arn:aws:acm:eu-west-1:1234:certificate/abc",
            "eu-west-1"
        ));
    }

    #[test]
    fn domains() {
        assert!(is_domain("hooks.example.com"));
        assert!(!is_domain("hooks"));
        assert!(!is_domain("Hooks.example.com"));
        assert!(!is_domain("-a.example.com"));
    }
}
