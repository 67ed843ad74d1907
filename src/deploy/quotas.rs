//! The deploy preflight's look at the account's quotas: for every figure of the capacity model
//! held against an adjustable quota ([`crate::ir::capacity::Bound::Quota`]), the value applied
//! to this account and region, from Service Quotas.
//!
//! `GetServiceQuota` answers the applied value; for a quota never raised it answers
//! `NoSuchResourceException` ("If the applied quota value is not available for a quota, the
//! quota is not retrieved"), and `GetAWSDefaultServiceQuota` gives the default
//! (<https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html>).
//! A need above the applied value refuses the deploy; compile only warns, because it cannot know
//! what the account has. One caveat AWS documents: in the regions where API Gateway's throttle
//! starts at 2,500/s, Service Quotas may still show 10,000.

use std::collections::BTreeMap;

use aws_sdk_servicequotas::Client;

use super::{DeployError, aws_error, error_code};
use crate::ir::capacity::{Bound, Figure};

/// One quota as the account has it.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// The figure of the model it judges.
    pub figure: Figure,
    /// The value in force.
    pub value: f64,
    /// Whether the value was applied to this account (raised), or is AWS's default.
    pub applied: bool,
}

impl Reading {
    /// Whether the account's value holds the model's need.
    pub fn holds(&self) -> bool {
        self.figure.need as f64 <= self.value
    }
}

/// The figures of `model` that a published Service Quotas code stands behind.
pub fn quota_figures(model: &[Figure]) -> Vec<(&Figure, &'static str, &'static str)> {
    model
        .iter()
        .filter_map(|f| match &f.bound {
            Bound::Quota(q) => q.quota_code.map(|code| (f, q.service_code, code)),
            _ => None,
        })
        .collect()
}

/// Reads the account's value of every quota behind `model`, once per quota code.
pub async fn read(
    sdk: &aws_config::SdkConfig,
    model: &[Figure],
) -> Result<Vec<Reading>, DeployError> {
    let client = Client::new(sdk);
    let mut known: BTreeMap<(&str, &str), (f64, bool)> = BTreeMap::new();
    let mut out = Vec::new();
    for (figure, service, code) in quota_figures(model) {
        let (value, applied) = match known.get(&(service, code)) {
            Some(v) => *v,
            None => {
                let v = value(&client, service, code).await?;
                known.insert((service, code), v);
                v
            }
        };
        out.push(Reading {
            figure: figure.clone(),
            value,
            applied,
        });
    }
    Ok(out)
}

async fn value(client: &Client, service: &str, code: &str) -> Result<(f64, bool), DeployError> {
    let missing = |what: &str| {
        DeployError::Preflight(format!(
            "Service Quotas {what} gave no value for {service}/{code}"
        ))
    };
    match client
        .get_service_quota()
        .service_code(service)
        .quota_code(code)
        .send()
        .await
    {
        Ok(out) => out
            .quota()
            .and_then(|q| q.value())
            .map(|v| (v, true))
            .ok_or_else(|| missing("GetServiceQuota")),
        Err(e) if error_code(&e) == Some("NoSuchResourceException") => client
            .get_aws_default_service_quota()
            .service_code(service)
            .quota_code(code)
            .send()
            .await
            .map_err(|e| aws_error("Service Quotas GetAWSDefaultServiceQuota", e))?
            .quota()
            .and_then(|q| q.value())
            .map(|v| (v, false))
            .ok_or_else(|| missing("GetAWSDefaultServiceQuota")),
        Err(e) => Err(aws_error("Service Quotas GetServiceQuota", e)),
    }
}

/// The refusal for every reading whose account value is below the model's need.
pub fn check(readings: &[Reading]) -> Result<(), DeployError> {
    let short: Vec<String> = readings
        .iter()
        .filter(|r| !r.holds())
        .map(|r| {
            let f = &r.figure;
            let (service, code, name) = match &f.bound {
                Bound::Quota(q) => (q.service_code, q.quota_code.unwrap_or("-"), q.name),
                _ => ("-", "-", "-"),
            };
            format!(
                "{} {} needs {} {} ({}), but this account's \"{name}\" ({service}/{code}) is {}{}: ask AWS to raise it in Service Quotas, or {}",
                f.service,
                f.what,
                f.need,
                f.unit,
                f.basis,
                r.value,
                if r.applied { "" } else { " (AWS's default)" },
                f.fix
            )
        })
        .collect();
    if short.is_empty() {
        Ok(())
    } else {
        Err(DeployError::Preflight(short.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::capacity::{Figure, PUT_EVENTS, SECRETS_READS};

    fn figure(need: u64, bound: Bound) -> Figure {
        Figure {
            service: "EventBridge",
            what: "PutEvents",
            need,
            limit: 400,
            unit: "requests/s",
            basis: "one PutEvents per webhook".into(),
            bound,
            field: "limits.api_rate",
            fix: "lower `limits.api_rate`".into(),
        }
    }

    #[test]
    fn only_quotas_with_a_published_code_are_read() {
        let model = [
            figure(1, Bound::Quota(PUT_EVENTS)),
            figure(1, Bound::Quota(SECRETS_READS)),
            figure(1, Bound::Hard { source: "p" }),
        ];
        let read: Vec<_> = quota_figures(&model)
            .into_iter()
            .map(|(_, s, c)| (s, c))
            .collect();
        assert_eq!(read, [("events", "L-9B653E91")]);
    }

    #[test]
    fn a_need_above_the_accounts_value_refuses_and_says_which_quota() {
        let reading = |need, value, applied| Reading {
            figure: figure(need, Bound::Quota(PUT_EVENTS)),
            value,
            applied,
        };
        assert!(check(&[reading(1_000, 1_000.0, false)]).is_ok());
        let e = check(&[reading(1_000, 400.0, false)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("EventBridge PutEvents needs 1000 requests/s (one PutEvents per webhook), but this account's \"PutEvents throttle limit in transactions per second\" (events/L-9B653E91) is 400 (AWS's default)"),
            "{e}"
        );
        let e = check(&[reading(1_000, 600.0, true)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("is 600: ask AWS"), "{e}");
    }
}
