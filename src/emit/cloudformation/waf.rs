//! WAF: the web ACL on the API stage, with the per-IP rate rule and AWS managed rule groups.
//!
//! The rule's `Limit` counts requests per evaluation window (`rate x window`, derived in
//! `ir::derive`), and the window is always written out: left implicit, AWS uses 300 s.
//!
//! Blocked and counted requests are logged (which address, which rule, which path) to a log
//! group encrypted with the stack's key; allowed ones are dropped, so 1,000 webhooks a second
//! do not become 1,000 log lines a second; signature and credential headers are redacted.

use serde_json::{Value, json};

use super::exceptions::{KNOWN_BAD_INPUTS_OFF, attach};
use super::{Template, att, ids, resource, sub};
use crate::spec::{Cidr, ManagedRules};
use wh_runtime::model::UNSTORED_HEADERS;

/// The per-IP rule's name (and metric name).
pub const PER_IP_RULE: &str = "per-ip-rate";

/// The response header the per-IP rule's block carries, so a client (the load test) can tell
/// its 403 from API Gateway's own ("Missing Authentication Token") and from the managed rule
/// groups' blocks. `wh dev` sends the same. A custom response header is sent under the name
/// given: the `x-amzn-waf-` prefix applies to headers WAF *inserts into requests*
/// (<https://docs.aws.amazon.com/waf/latest/APIReference/API_CustomHTTPHeader.html>; names
/// match `^[a-zA-Z0-9._$-]+$`, 1 to 64 characters).
pub const BLOCK_HEADER: (&str, &str) = ("x-wh-blocked-by", "per-ip");

pub(super) fn emit(t: &mut Template) {
    let n = t.names.clone();
    let waf = t.stack.waf.clone();
    let mut exempt = Vec::new();
    for (version, networks, id) in [
        ("v4", &waf.exempt_v4, "ExemptIpSetV4"),
        ("v6", &waf.exempt_v6, "ExemptIpSetV6"),
    ] {
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

    let mut rules: Vec<Value> = vec![json!({
        "Name": PER_IP_RULE,
        "Priority": 0,
        "Action": { "Block": { "CustomResponse": {
            "ResponseCode": 403,
            "ResponseHeaders": [{ "Name": BLOCK_HEADER.0, "Value": BLOCK_HEADER.1 }],
        } } },
        "Statement": { "RateBasedStatement": rate },
        "VisibilityConfig": visibility(Value::String(PER_IP_RULE.into())),
    })];
    for (priority, group) in (1..).zip(&waf.managed) {
        rules.push(managed_rule(*group, priority));
    }
    let mut acl = resource(
        "AWS::WAFv2::WebACL",
        json!({
            "Name": sub(n.web_acl()),
            "Description": format!("Per-IP limit {} over {} s for the webhook API", waf.rate, waf.window_secs),
            "Scope": "REGIONAL",
            "DefaultAction": { "Allow": {} },
            "VisibilityConfig": visibility(sub(n.web_acl())),
            "Rules": rules,
        }),
    );
    if !waf.managed.contains(&ManagedRules::KnownBadInputs) {
        attach(&mut acl, &[KNOWN_BAD_INPUTS_OFF]);
    }
    t.add(ids::WEB_ACL, acl);

    let logs = t.log_group(sub(n.waf_log_group()));
    t.add("WafLogGroup", logs);
    t.add(
        "WafLogging",
        json!({
            "Type": "AWS::WAFv2::LoggingConfiguration",
            // The destination is the log group's ARN without the `:*` its `Arn` attribute
            // carries (WAF refuses that form), so the order is explicit.
            "DependsOn": ["WafLogGroup"],
            "Properties": {
                "ResourceArn": att(ids::WEB_ACL, "Arn"),
                "LogDestinationConfigs": [super::kms::log_group_arn(&n.waf_log_group())],
                "RedactedFields": UNSTORED_HEADERS
                    .iter()
                    .map(|h| json!({ "SingleHeader": { "Name": h } }))
                    .collect::<Vec<_>>(),
                "LoggingFilter": {
                    "DefaultBehavior": "DROP",
                    "Filters": [{
                        "Behavior": "KEEP",
                        "Requirement": "MEETS_ANY",
                        "Conditions": [
                            { "ActionCondition": { "Action": "BLOCK" } },
                            { "ActionCondition": { "Action": "COUNT" } },
                            // "EXCLUDED_AS_COUNT matches on excluded rules and also on rules
                            // that have a rule action override of Count" (WAF API reference,
                            // ActionCondition): the common rule set's two overridden rules.
                            { "ActionCondition": { "Action": "EXCLUDED_AS_COUNT" } },
                        ],
                    }],
                },
            },
        }),
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

/// A managed rule group, with the overrides webhook bodies need.
///
/// In the common rule set, `SizeRestrictions_BODY` blocks bodies over 8 KB, and real webhooks
/// (a Shopify order, a GitHub pull request) are often larger: the spec's `max_payload` is the
/// limit, enforced by the receiver with a 413. `CrossSiteScripting_BODY` blocks HTML-like text,
/// and webhook bodies carry user-written text (GitHub issue bodies, order notes) that is signed
/// by the provider and never rendered by the stack. Both count instead of blocking, so they
/// still show in WAF metrics.
fn managed_rule(group: ManagedRules, priority: u32) -> Value {
    let mut statement = json!({ "VendorName": "AWS", "Name": group.aws_name() });
    if group == ManagedRules::Common {
        statement["RuleActionOverrides"] = json!([
            { "Name": "SizeRestrictions_BODY", "ActionToUse": { "Count": {} } },
            { "Name": "CrossSiteScripting_BODY", "ActionToUse": { "Count": {} } },
        ]);
    }
    json!({
        "Name": group.aws_name(),
        "Priority": priority,
        "OverrideAction": { "None": {} },
        "Statement": { "ManagedRuleGroupStatement": statement },
        "VisibilityConfig": visibility(Value::String(group.aws_name().into())),
    })
}

fn visibility(metric: Value) -> Value {
    json!({ "SampledRequestsEnabled": true, "CloudWatchMetricsEnabled": true, "MetricName": metric })
}
