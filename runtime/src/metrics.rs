//! CloudWatch embedded metric format: one JSON line on stdout per counted outcome, which
//! CloudWatch turns into metrics with no API call. Each count is published per stack (what the
//! template's alarms watch) and per stack and provider.

use serde_json::json;

/// The EMF line counting one `metric` for `provider` at `timestamp_ms`.
pub fn emf_line(
    namespace: &str,
    stack: &str,
    provider: &str,
    metric: &str,
    timestamp_ms: i128,
) -> String {
    json!({
        "_aws": {
            "Timestamp": i64::try_from(timestamp_ms).unwrap_or(0),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Stack"], ["Stack", "Provider"]],
                "Metrics": [{ "Name": metric, "Unit": "Count" }],
            }],
        },
        "Stack": stack,
        "Provider": provider,
        metric: 1,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_emf_with_both_dimension_sets() {
        let line: serde_json::Value = serde_json::from_str(&emf_line(
            "Webhooks/payments-prod",
            "payments-prod",
            "stripe",
            "SignatureFailures",
            1_700_000_000_000,
        ))
        .unwrap();
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Stack"], ["Stack", "Provider"]])
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "Webhooks/payments-prod"
        );
        assert_eq!(line["SignatureFailures"], 1);
        assert_eq!(line["Stack"], "payments-prod");
        assert_eq!(line["Provider"], "stripe");
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000_i64);
    }
}
