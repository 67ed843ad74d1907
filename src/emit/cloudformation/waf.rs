//! WAF: the web ACL on the API stage, with the per-IP rate rule.
//!
//! The rule's `Limit` counts requests per evaluation window (`rate x window`, derived in
//! `ir::derive`), and the window is always written out: left implicit, AWS uses 300 s.

use serde_json::{Value, json};

use super::{Template, att, ids, resource, sub};
use crate::spec::Cidr;

/// The per-IP rule's name (and metric name).
pub const PER_IP_RULE: &str = "per-ip-rate";

pub(super) fn emit(t: &mut Template) {
    let n = t.names.clone();
    let waf = t.stack.waf.clone();
    let mut exempt = Vec::new();
    for (version, networks, id) in [("v4", &waf.exempt_v4, "ExemptIpSetV4"), ("v6", &waf.exempt_v6, "ExemptIpSetV6")] {
        if networks.is_empty() {
            continue;
        }
        t.add(
            id,
            resource(
                "AWS::WAFv2::IPSet",
                json!({
                    "Name": sub(n.exempt_ip_set(version)),
                    "Description": "Sources exempt from the per-IP rate rule",
                    "Scope": "REGIONAL",
                    "IPAddressVersion": if version == "v4" { "IPV4" } else { "IPV6" },
                    "Addresses": networks.iter().map(Cidr::to_string).collect::<Vec<_>>(),
                }),
            ),
        );
        exempt.push(json!({ "IPSetReferenceStatement": { "Arn": att(id, "Arn") } }));
    }

    let mut rate = json!({
        "Limit": waf.limit,
        "EvaluationWindowSec": waf.window_secs,
        "AggregateKeyType": "IP",
    });
    // Exempt sources are kept out of the rule's count entirely (a scope-down), not allowed
    // by a separate rule, so they neither trip nor feed the per-IP limit.
    let scope_down = match exempt.len() {
        0 => None,
        1 => exempt.pop(),
        _ => Some(json!({ "OrStatement": { "Statements": exempt } })),
    };
    if let Some(statement) = scope_down {
        rate["ScopeDownStatement"] = json!({ "NotStatement": { "Statement": statement } });
    }

    let rules: Vec<Value> = vec![json!({
        "Name": PER_IP_RULE,
        "Priority": 0,
        "Action": { "Block": {} },
        "Statement": { "RateBasedStatement": rate },
        "VisibilityConfig": visibility(Value::String(PER_IP_RULE.into())),
    })];
    t.add(
        ids::WEB_ACL,
        resource(
            "AWS::WAFv2::WebACL",
            json!({
                "Name": sub(n.web_acl()),
                "Description": format!("Per-IP limit {} over {} s for the webhook API", waf.rate, waf.window_secs),
                "Scope": "REGIONAL",
                "DefaultAction": { "Allow": {} },
                "VisibilityConfig": visibility(sub(n.web_acl())),
                "Rules": rules,
            }),
        ),
    );
    t.add(
        "WebAclAssociation",
        json!({
            "Type": "AWS::WAFv2::WebACLAssociation",
            "DependsOn": [ids::STAGE],
            "Properties": {
                "ResourceArn": sub(format!(
                    "arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}::/restapis/${{{}}}/stages/{}",
                    ids::REST_API, t.stack.stage
                )),
                "WebACLArn": att(ids::WEB_ACL, "Arn"),
            },
        }),
    );
}

fn visibility(metric: Value) -> Value {
    json!({ "SampledRequestsEnabled": true, "CloudWatchMetricsEnabled": true, "MetricName": metric })
}
