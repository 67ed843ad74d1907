//! Broadening changes: what an update would widen, computed from the deployed template
//! (GetTemplate) and the compiled one, so it does not depend on how much detail a change set
//! gives. `wh deploy` lists them apart and goes on only with `--approve-broadening` (or a yes
//! at the terminal), as `cdk deploy --require-approval broadening` does
//! (<https://docs.aws.amazon.com/cdk/v2/guide/ref-cli-cmd-deploy.html>).
//!
//! What counts (each a [`Kind`]): an IAM grant added or widened, a role trusted by more
//! principals, a resource or key policy allowing more (or denying less), an invoke permission
//! added or changed, a WAF rule removed or weakened, the per-IP rate raised, an address range
//! exempted, the stage throttle raised, a method's authorization dropped.
//!
//! How policies are compared: every statement is split into grants (principal x action x
//! resource, with its condition). A new Allow grant is broadening unless an old Allow grant
//! covers it: same or wildcard principal, an action and a resource the old one matches (IAM's
//! `*` and `?`, actions case-insensitive:
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html>),
//! and the same condition or none. An old Deny grant that no new Deny covers is broadening too.
//! Statements with `NotAction`, `NotResource` or `NotPrincipal` are compared whole. Values built
//! with intrinsic functions are compared as written, so a changed reference counts as new: a
//! false alarm costs a flag, a missed widening costs an incident.
//!
//! Decisions: a first deploy has nothing to widen, so it is never gated (its template passed the
//! checks and the linters); a replaced resource (new logical id) is new, so all its grants are
//! listed. Rule order inside a web ACL is not judged (the compiled ACL has no Allow rules that
//! an earlier position could let through).

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value};
use wildmatch::WildMatch;

/// What kind of access a change widens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// An identity policy grants more: a statement added or widened, a managed policy
    /// attached, a permissions boundary removed, a policy attached to more identities.
    Permission,
    /// A role may be assumed by more principals.
    RoleTrust,
    /// A resource policy (queue, topic, bus, bucket, secret, API) allows more.
    ResourcePolicy,
    /// A KMS key policy allows more.
    KeyPolicy,
    /// A Lambda permission lets more callers invoke.
    InvokePermission,
    /// The web ACL blocks less: a rule or the ACL removed, a rule set to count, a managed
    /// group's rule overridden or excluded, a rule's scope changed, the default action allows.
    WafRule,
    /// The per-IP rate rule allows more requests per second.
    PerIpLimit,
    /// An address range was exempted from a blocking rule (or taken off a block list).
    ExemptCidr,
    /// The stage throttle rose or was removed.
    StageThrottle,
    /// An API method needs less authorization.
    MethodAuthorization,
}

/// One broadening change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Broadening {
    /// What it widens.
    pub kind: Kind,
    /// The logical id of the resource that changes.
    pub logical_id: String,
    /// What is wider, in words.
    pub detail: String,
}

impl Broadening {
    /// One line for people.
    pub fn render(&self) -> String {
        format!(
            "{} {}: {}",
            self.logical_id,
            kind_name(self.kind),
            self.detail
        )
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Permission => "permission",
        Kind::RoleTrust => "role trust",
        Kind::ResourcePolicy => "resource policy",
        Kind::KeyPolicy => "key policy",
        Kind::InvokePermission => "invoke permission",
        Kind::WafRule => "WAF rule",
        Kind::PerIpLimit => "per-IP limit",
        Kind::ExemptCidr => "exempt range",
        Kind::StageThrottle => "stage throttle",
        Kind::MethodAuthorization => "method authorization",
    }
}

/// What the compiled template widens compared with the deployed one, sorted.
pub fn compare(deployed: &Value, compiled: &Value) -> Vec<Broadening> {
    let empty = Map::new();
    let (old, new) = (
        object(deployed, "Resources").unwrap_or(&empty),
        object(compiled, "Resources").unwrap_or(&empty),
    );
    let mut found = Vec::new();
    for (id, r) in new {
        let ty = r.get("Type").and_then(Value::as_str).unwrap_or("");
        let props = r
            .get("Properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let before = old.get(id).filter(|o| o.get("Type") == r.get("Type"));
        let old_props = before.map(|o| {
            o.get("Properties")
                .and_then(Value::as_object)
                .unwrap_or(&empty)
        });
        let mut add = |kind: Kind, detail: String| {
            found.push(Broadening {
                kind,
                logical_id: id.clone(),
                detail,
            })
        };
        for (kind, pick) in policy_places(ty) {
            let was = old_props.map(pick).unwrap_or_default();
            for d in wider_policy(&was, &pick(props)) {
                add(kind, d);
            }
        }
        if let Some(was) = old_props {
            for key in ATTACHMENTS {
                for a in added(&values(was.get(key)), &values(props.get(key))) {
                    let kind = if ty.starts_with("AWS::IAM::") {
                        Kind::Permission
                    } else {
                        Kind::ResourcePolicy
                    };
                    add(kind, format!("now also applies to {a} ({key})"));
                }
            }
        }
        match ty {
            "AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group" => {
                let was = old_props.map(|p| values(p.get("ManagedPolicyArns")));
                for a in added(
                    &was.unwrap_or_default(),
                    &values(props.get("ManagedPolicyArns")),
                ) {
                    add(Kind::Permission, format!("managed policy {a} attached"));
                }
                if let Some(b) = old_props.and_then(|p| p.get("PermissionsBoundary"))
                    && props.get("PermissionsBoundary") != Some(b)
                {
                    add(
                        Kind::Permission,
                        format!("permissions boundary {} removed or changed", canonical(b)),
                    );
                }
            }
            "AWS::Lambda::Permission" => match old_props {
                None => add(
                    Kind::InvokePermission,
                    format!("new: {}", describe_permission(props)),
                ),
                Some(was) if was != props => add(
                    Kind::InvokePermission,
                    format!(
                        "changed from {} to {}",
                        describe_permission(was),
                        describe_permission(props)
                    ),
                ),
                Some(_) => {}
            },
            "AWS::WAFv2::WebACL" => {
                if let Some(was) = old_props {
                    for d in weaker_acl(was, props) {
                        add(d.0, d.1);
                    }
                }
            }
            "AWS::WAFv2::IPSet" => {
                let polarity = ip_set_polarity(new, id);
                let was = old_props.map(|p| values(p.get("Addresses")));
                let now = values(props.get("Addresses"));
                let was = was.unwrap_or_default();
                if polarity.exempts {
                    for a in added(&was, &now) {
                        add(Kind::ExemptCidr, format!("{a} exempted"));
                    }
                }
                if polarity.blocks {
                    for a in added(&now, &was) {
                        add(Kind::ExemptCidr, format!("{a} no longer blocked"));
                    }
                }
            }
            "AWS::ApiGateway::Stage" => {
                if let Some(was) = old_props {
                    for d in raised_throttle(was, props) {
                        add(Kind::StageThrottle, d);
                    }
                }
            }
            "AWS::ApiGateway::Method" => {
                if let Some(was) = old_props {
                    let auth = |p: &Map<String, Value>| {
                        p.get("AuthorizationType")
                            .and_then(Value::as_str)
                            .unwrap_or("NONE")
                            .to_owned()
                    };
                    if auth(was) != "NONE" && auth(props) == "NONE" {
                        add(
                            Kind::MethodAuthorization,
                            format!("authorization {} removed", auth(was)),
                        );
                    }
                    let key =
                        |p: &Map<String, Value>| p.get("ApiKeyRequired") == Some(&true.into());
                    if key(was) && !key(props) {
                        add(
                            Kind::MethodAuthorization,
                            "API key no longer required".into(),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    // Protection that goes away with its resource.
    for (id, r) in old {
        let ty = r.get("Type").and_then(Value::as_str).unwrap_or("");
        let gone = new.get(id).is_none_or(|n| n.get("Type") != r.get("Type"));
        if gone && matches!(ty, "AWS::WAFv2::WebACL" | "AWS::WAFv2::WebACLAssociation") {
            found.push(Broadening {
                kind: Kind::WafRule,
                logical_id: id.clone(),
                detail: format!("{ty} removed: its rules no longer apply"),
            });
        }
        if gone && ty == "AWS::ApiGateway::Stage" {
            found.push(Broadening {
                kind: Kind::StageThrottle,
                logical_id: id.clone(),
                detail: "stage removed with its throttle".into(),
            });
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The object at `key` of `v`.
fn object<'v>(v: &'v Value, key: &str) -> Option<&'v Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

/// Properties naming what a policy applies to: more of them is broadening.
const ATTACHMENTS: [&str; 6] = ["Queues", "Topics", "Roles", "Users", "Groups", "Bucket"];

type Pick = fn(&Map<String, Value>) -> Vec<Value>;

/// Where each resource type keeps its policy documents, and what kind of access they grant.
/// (All inline policies of one role are one set: moving a statement between them widens
/// nothing.)
fn policy_places(ty: &str) -> Vec<(Kind, Pick)> {
    fn prop(p: &Map<String, Value>, key: &str) -> Vec<Value> {
        let doc = match p.get(key) {
            // AWS::Logs::ResourcePolicy and others take the document as a JSON string.
            Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
            Some(v) => v.clone(),
            None => return Vec::new(),
        };
        statements(&doc)
    }
    fn inline(p: &Map<String, Value>) -> Vec<Value> {
        p.get("Policies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|policy| {
                policy
                    .get("PolicyDocument")
                    .map(statements)
                    .unwrap_or_default()
            })
            .collect()
    }
    match ty {
        "AWS::IAM::Role" => vec![
            (Kind::RoleTrust, |p| prop(p, "AssumeRolePolicyDocument")),
            (Kind::Permission, inline),
        ],
        "AWS::IAM::User" | "AWS::IAM::Group" => vec![(Kind::Permission, inline)],
        "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::IAM::RolePolicy" => {
            vec![(Kind::Permission, |p| prop(p, "PolicyDocument"))]
        }
        "AWS::KMS::Key" => vec![(Kind::KeyPolicy, |p| prop(p, "KeyPolicy"))],
        "AWS::SQS::QueuePolicy"
        | "AWS::SNS::TopicPolicy"
        | "AWS::S3::BucketPolicy"
        | "AWS::Logs::ResourcePolicy" => {
            vec![(Kind::ResourcePolicy, |p| prop(p, "PolicyDocument"))]
        }
        "AWS::SecretsManager::ResourcePolicy" => {
            vec![(Kind::ResourcePolicy, |p| prop(p, "ResourcePolicy"))]
        }
        "AWS::ApiGateway::RestApi" => vec![(Kind::ResourcePolicy, |p| prop(p, "Policy"))],
        // A bus policy is one statement, or a Statement property.
        "AWS::Events::EventBusPolicy" => {
            vec![(Kind::ResourcePolicy, |p| match p.get("Statement") {
                Some(s) => statements(&serde_json::json!({ "Statement": s })),
                None => {
                    let mut s = Map::new();
                    s.insert("Effect".into(), "Allow".into());
                    for (from, to) in [
                        ("Action", "Action"),
                        ("Principal", "Principal"),
                        ("Condition", "Condition"),
                    ] {
                        if let Some(v) = p.get(from) {
                            s.insert(to.into(), v.clone());
                        }
                    }
                    vec![Value::Object(s)]
                }
            })]
        }
        _ => Vec::new(),
    }
}

/// A policy document's statements (one object or a list).
fn statements(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// A value as written: a plain string, or an intrinsic function compared by its JSON.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Term {
    Plain(String),
    Written(String),
}

impl Term {
    fn of(v: &Value) -> Term {
        match v {
            Value::String(s) => Term::Plain(s.clone()),
            other => Term::Written(canonical(other)),
        }
    }

    /// Whether this pattern (an old grant's) matches `other` (a new grant's).
    fn covers(&self, other: &Term, case_insensitive: bool) -> bool {
        match (self, other) {
            (Term::Plain(p), Term::Plain(s)) if case_insensitive => {
                WildMatch::new(&p.to_ascii_lowercase()).matches(&s.to_ascii_lowercase())
            }
            (Term::Plain(p), Term::Plain(s)) => WildMatch::new(p).matches(s),
            (Term::Plain(p), Term::Written(_)) => p == "*",
            (a, b) => a == b,
        }
    }

    fn show(&self) -> &str {
        match self {
            Term::Plain(s) | Term::Written(s) => s,
        }
    }
}

/// One principal x action x resource of a statement, with its condition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    principal: Term,
    action: Term,
    resource: Term,
    condition: String,
}

impl Grant {
    fn covered_by(&self, old: &Grant) -> bool {
        old.principal.covers(&self.principal, false)
            && old.action.covers(&self.action, true)
            && old.resource.covers(&self.resource, false)
            && (old.condition.is_empty() || old.condition == self.condition)
    }
}

/// A policy's statements split by effect: grants, and whole statements with a `Not*` element.
#[derive(Default)]
struct Split {
    allow: Vec<Grant>,
    deny: Vec<Grant>,
    allow_whole: BTreeSet<String>,
    deny_whole: BTreeSet<String>,
}

fn split(statements: &[Value]) -> Split {
    let mut s = Split::default();
    for st in statements {
        let deny = st.get("Effect").and_then(Value::as_str) == Some("Deny");
        if ["NotAction", "NotResource", "NotPrincipal"]
            .iter()
            .any(|k| st.get(k).is_some())
        {
            let mut whole = st.clone();
            if let Some(o) = whole.as_object_mut() {
                o.remove("Sid");
            }
            let set = if deny {
                &mut s.deny_whole
            } else {
                &mut s.allow_whole
            };
            set.insert(canonical(&whole));
            continue;
        }
        let principals = principals(st.get("Principal"));
        let actions = terms(st.get("Action"));
        let resources = match st.get("Resource") {
            None => vec![Term::Plain(String::new())],
            r => terms(r),
        };
        let condition = st.get("Condition").map(canonical).unwrap_or_default();
        let list = if deny { &mut s.deny } else { &mut s.allow };
        for p in &principals {
            for a in &actions {
                for r in &resources {
                    list.push(Grant {
                        principal: p.clone(),
                        action: a.clone(),
                        resource: r.clone(),
                        condition: condition.clone(),
                    });
                }
            }
        }
    }
    s
}

/// `"*"`, `{"AWS": [...], "Service": ...}` as `AWS:arn` terms; none (an identity policy) as one
/// empty principal.
fn principals(p: Option<&Value>) -> Vec<Term> {
    match p {
        None => vec![Term::Plain(String::new())],
        Some(Value::String(s)) => vec![Term::Plain(s.clone())],
        Some(Value::Object(o)) => o
            .iter()
            .flat_map(|(k, v)| {
                terms(Some(v)).into_iter().map(move |t| match t {
                    // `{"AWS": "*"}` is everyone, as `"*"` is.
                    Term::Plain(s) if s == "*" && k == "AWS" => Term::Plain(s),
                    Term::Plain(s) => Term::Plain(format!("{k}:{s}")),
                    Term::Written(s) => Term::Written(format!("{k}:{s}")),
                })
            })
            .collect(),
        Some(other) => vec![Term::of(other)],
    }
}

/// A string, an intrinsic, or a list of them.
fn terms(v: Option<&Value>) -> Vec<Term> {
    match v {
        None => Vec::new(),
        Some(Value::Array(a)) => a.iter().map(Term::of).collect(),
        Some(other) => vec![Term::of(other)],
    }
}

/// What `now` allows that `was` did not, or no longer denies, grouped by principal, resource and
/// condition.
fn wider_policy(was: &[Value], now: &[Value]) -> Vec<String> {
    let (was, now) = (split(was), split(now));
    let mut out = Vec::new();
    let mut group = |verb: &str, grants: Vec<&Grant>| {
        // (principal, resource, condition) -> actions, in first-seen order.
        type Key<'g> = (&'g Term, &'g Term, &'g str);
        let mut by: Vec<(Key, Vec<&str>)> = Vec::new();
        for g in grants {
            let key = (&g.principal, &g.resource, g.condition.as_str());
            match by.iter_mut().find(|(k, _)| *k == key) {
                Some((_, actions)) => actions.push(g.action.show()),
                None => by.push((key, vec![g.action.show()])),
            }
        }
        for ((principal, resource, condition), actions) in by {
            let mut line = format!("{verb} {} on {}", actions.join(", "), resource.show());
            if !principal.show().is_empty() {
                line = format!("{} {line}", principal.show());
            }
            if !condition.is_empty() {
                line.push_str(&format!(" when {condition}"));
            }
            out.push(line);
        }
    };
    let allowed: Vec<&Grant> = now
        .allow
        .iter()
        .filter(|g| !was.allow.iter().any(|o| g.covered_by(o)))
        .collect();
    group("allows", allowed);
    let undenied: Vec<&Grant> = was
        .deny
        .iter()
        .filter(|g| !now.deny.iter().any(|n| g.covered_by(n)))
        .collect();
    group("no longer denies", undenied);
    for s in now.allow_whole.difference(&was.allow_whole) {
        out.push(format!("allows {s}"));
    }
    for s in was.deny_whole.difference(&now.deny_whole) {
        out.push(format!("no longer denies {s}"));
    }
    out
}

/// The canonical text of a value given as one item or a list.
fn values(v: Option<&Value>) -> BTreeSet<String> {
    match v {
        None => BTreeSet::new(),
        Some(Value::Array(a)) => a.iter().map(show).collect(),
        Some(other) => [show(other)].into(),
    }
}

/// What `now` has that `was` lacks.
fn added(was: &BTreeSet<String>, now: &BTreeSet<String>) -> Vec<String> {
    now.difference(was).cloned().collect()
}

fn show(v: &Value) -> String {
    v.as_str().map_or_else(|| canonical(v), str::to_owned)
}

/// JSON with object keys sorted (the templates keep insertion order), for comparing as written.
fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(o) => {
                let mut keys: Vec<_> = o.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&o[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

fn describe_permission(p: &Map<String, Value>) -> String {
    let field = |k: &str| p.get(k).map(show).unwrap_or_else(|| "(none)".into());
    format!(
        "{} may {} {} (source {}, account {})",
        field("Principal"),
        field("Action"),
        field("FunctionName"),
        field("SourceArn"),
        field("SourceAccount")
    )
}

/// The first key of a WAF action object (`{"Block": {...}}` is `Block`).
fn action_name(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_object)
        .and_then(|o| o.keys().next())
        .map(String::as_str)
}

/// Whether a WAF action stops requests (Block, CAPTCHA, Challenge) rather than letting them
/// through (Allow, Count).
fn stops(action: Option<&str>) -> bool {
    matches!(action, Some("Block" | "Captcha" | "Challenge"))
}

/// Rate-based rules evaluate over 300 s unless `EvaluationWindowSec` says otherwise
/// (<https://docs.aws.amazon.com/waf/latest/APIReference/API_RateBasedStatement.html>).
const DEFAULT_RATE_WINDOW_SECS: u64 = 300;

/// How a web ACL blocks less than before.
fn weaker_acl(was: &Map<String, Value>, now: &Map<String, Value>) -> Vec<(Kind, String)> {
    let mut out = Vec::new();
    if stops(action_name(was.get("DefaultAction"))) && !stops(action_name(now.get("DefaultAction")))
    {
        out.push((
            Kind::WafRule,
            "default action no longer blocks requests no rule matched".into(),
        ));
    }
    fn rules(m: &Map<String, Value>) -> &[Value] {
        m.get("Rules")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
    let name = |r: &Value| {
        r.get("Name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let now_rules = rules(now);
    for old in rules(was) {
        let n = name(old);
        let Some(new) = now_rules.iter().find(|r| name(r) == n) else {
            out.push((Kind::WafRule, format!("rule {n} removed")));
            continue;
        };
        if stops(action_name(old.get("Action"))) && !stops(action_name(new.get("Action"))) {
            out.push((
                Kind::WafRule,
                format!(
                    "rule {n} now {}s instead of blocking",
                    action_name(new.get("Action"))
                        .unwrap_or("none")
                        .to_lowercase()
                ),
            ));
        }
        if action_name(old.get("OverrideAction")) == Some("None")
            && action_name(new.get("OverrideAction")) != Some("None")
        {
            out.push((
                Kind::WafRule,
                format!("rule group {n} now only counts (override action)"),
            ));
        }
        let (os, ns) = (&old["Statement"], &new["Statement"]);
        if let (Some(o), Some(w)) = (os.get("RateBasedStatement"), ns.get("RateBasedStatement")) {
            out.extend(weaker_rate(&n, o, w));
        } else if let (Some(o), Some(w)) = (
            os.get("ManagedRuleGroupStatement"),
            ns.get("ManagedRuleGroupStatement"),
        ) {
            out.extend(weaker_group(&n, o, w));
        } else if canonical(os) != canonical(ns) {
            out.push((Kind::WafRule, format!("rule {n} matches differently")));
        }
    }
    out
}

fn weaker_rate(rule: &str, was: &Value, now: &Value) -> Vec<(Kind, String)> {
    let mut out = Vec::new();
    let num =
        |v: &Value, k: &str, default: u64| v.get(k).and_then(Value::as_u64).unwrap_or(default);
    let (ol, ow) = (
        num(was, "Limit", 0),
        num(was, "EvaluationWindowSec", DEFAULT_RATE_WINDOW_SECS),
    );
    let (nl, nw) = (
        num(now, "Limit", 0),
        num(now, "EvaluationWindowSec", DEFAULT_RATE_WINDOW_SECS),
    );
    // nl/nw > ol/ow, in integers.
    if u128::from(nl) * u128::from(ow) > u128::from(ol) * u128::from(nw) {
        out.push((
            Kind::PerIpLimit,
            format!("rule {rule} allows {nl} per {nw} s (was {ol} per {ow} s)"),
        ));
    }
    for key in [
        "AggregateKeyType",
        "ScopeDownStatement",
        "CustomKeys",
        "ForwardedIPConfig",
    ] {
        if was.get(key).map(canonical) != now.get(key).map(canonical) {
            out.push((Kind::WafRule, format!("rule {rule}'s {key} changed")));
        }
    }
    out
}

fn weaker_group(rule: &str, was: &Value, now: &Value) -> Vec<(Kind, String)> {
    let mut out = Vec::new();
    for key in ["VendorName", "Name", "ScopeDownStatement"] {
        if was.get(key).map(canonical) != now.get(key).map(canonical) {
            out.push((Kind::WafRule, format!("rule group {rule}'s {key} changed")));
        }
    }
    let overrides = |v: &Value| -> BTreeSet<String> {
        v.get("RuleActionOverrides")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|o| !stops(action_name(o.get("ActionToUse"))))
            .filter_map(|o| o.get("Name").and_then(Value::as_str).map(str::to_owned))
            .collect()
    };
    for r in added(&overrides(was), &overrides(now)) {
        out.push((
            Kind::WafRule,
            format!("rule group {rule}: {r} no longer blocks (action override)"),
        ));
    }
    let excluded = |v: &Value| -> BTreeSet<String> {
        v.get("ExcludedRules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("Name").and_then(Value::as_str).map(str::to_owned))
            .collect()
    };
    for r in added(&excluded(was), &excluded(now)) {
        out.push((Kind::WafRule, format!("rule group {rule}: {r} excluded")));
    }
    out
}

/// How the web ACLs use an IP set: inside a blocking rule under an odd number of
/// `NotStatement`s it exempts (adding addresses widens); under an even number it blocks
/// (removing addresses widens). In an Allow or Count rule it is the other way round.
#[derive(Debug, Default, PartialEq, Eq)]
struct Polarity {
    exempts: bool,
    blocks: bool,
}

fn ip_set_polarity(resources: &Map<String, Value>, set: &str) -> Polarity {
    fn walk(v: &Value, set: &str, negated: bool, stopping: bool, p: &mut Polarity) {
        match v {
            Value::Object(o) => {
                if let Some(s) = o.get("IPSetReferenceStatement") {
                    let arn = s.get("Arn");
                    let refers = arn
                        .and_then(|a| a.get("Fn::GetAtt"))
                        .and_then(|g| g.get(0))
                        .and_then(Value::as_str)
                        == Some(set)
                        || arn.and_then(|a| a.get("Ref")).and_then(Value::as_str) == Some(set);
                    if refers {
                        // An exemption lets through: in a stopping rule that is the negated
                        // match; in an Allow rule, the plain one.
                        if negated == stopping {
                            p.exempts = true;
                        } else {
                            p.blocks = true;
                        }
                    }
                }
                for (k, child) in o {
                    walk(child, set, negated ^ (k == "NotStatement"), stopping, p);
                }
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, set, negated, stopping, p)),
            _ => {}
        }
    }
    let mut p = Polarity::default();
    for r in resources.values() {
        if r.get("Type").and_then(Value::as_str) != Some("AWS::WAFv2::WebACL") {
            continue;
        }
        for rule in r["Properties"]["Rules"].as_array().into_iter().flatten() {
            let action = action_name(rule.get("Action"));
            // A rule group's rules block; an Allow or Count rule lets through.
            let stopping = action.is_none() || stops(action);
            walk(&rule["Statement"], set, false, stopping, &mut p);
        }
    }
    p
}

/// Stage method settings whose rate or burst rose, or that went away.
fn raised_throttle(was: &Map<String, Value>, now: &Map<String, Value>) -> Vec<String> {
    let settings = |m: &Map<String, Value>| -> Vec<(String, Option<f64>, Option<f64>)> {
        m.get("MethodSettings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|s| {
                (
                    format!(
                        "{} {}",
                        s.get("HttpMethod").and_then(Value::as_str).unwrap_or("*"),
                        s.get("ResourcePath")
                            .and_then(Value::as_str)
                            .unwrap_or("/*")
                    ),
                    s.get("ThrottlingRateLimit").and_then(Value::as_f64),
                    s.get("ThrottlingBurstLimit").and_then(Value::as_f64),
                )
            })
            .collect()
    };
    let now = settings(now);
    let mut out = Vec::new();
    for (path, rate, burst) in settings(was) {
        let new = now.iter().find(|(p, _, _)| *p == path);
        let (nr, nb) = new.map_or((None, None), |(_, r, b)| (*r, *b));
        for (what, old, new) in [("rate", rate, nr), ("burst", burst, nb)] {
            match (old, new) {
                (Some(o), Some(n)) if n > o => out.push(format!("{path}: {what} limit {o} -> {n}")),
                (Some(o), None) => out.push(format!(
                    "{path}: {what} limit {o} removed (the account's limit applies)"
                )),
                _ => {}
            }
        }
    }
    out
}

/// What an update of the deployed `stack` to `template` widens: the deployed template
/// (GetTemplate, `Original`) compared with it.
pub async fn against_deployed(
    cf: &aws_sdk_cloudformation::Client,
    stack: &str,
    template: &Value,
) -> Result<Vec<Broadening>, super::DeployError> {
    let deployed = super::stack::deployed_template(cf, stack).await?;
    Ok(compare(&deployed, template))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(resources: Value) -> Value {
        json!({ "Resources": resources })
    }

    fn kinds(b: &[Broadening]) -> Vec<(Kind, &str)> {
        b.iter().map(|b| (b.kind, b.logical_id.as_str())).collect()
    }

    fn role(statements: Value, trust: Value) -> Value {
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": { "Version": "2012-10-17", "Statement": trust },
                "Policies": [{ "PolicyName": "p", "PolicyDocument": { "Statement": statements } }]
            }
        })
    }

    fn lambda_trust() -> Value {
        json!([{ "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole" }])
    }

    fn send_to(queue: &str) -> Value {
        json!({ "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": { "Fn::GetAtt": [queue, "Arn"] } })
    }

    #[test]
    fn the_same_template_widens_nothing() {
        let t = template(json!({ "R": role(json!([send_to("Q")]), lambda_trust()) }));
        assert!(compare(&t, &t).is_empty());
    }

    #[test]
    fn an_iam_statement_added_or_widened_is_broadening_and_a_narrowed_one_is_not() {
        let old = template(json!({ "R": role(json!([send_to("Q")]), lambda_trust()) }));
        // Added: a second queue.
        let more =
            template(json!({ "R": role(json!([send_to("Q"), send_to("Dlq")]), lambda_trust()) }));
        let b = compare(&old, &more);
        assert_eq!(kinds(&b), [(Kind::Permission, "R")]);
        assert!(b[0].detail.contains("sqs:SendMessage"), "{b:?}");
        assert!(b[0].detail.contains("Dlq"), "{b:?}");
        // Widened: the action to a wildcard.
        let wild = template(
            json!({ "R": role(json!([{ "Effect": "Allow", "Action": "sqs:*", "Resource": { "Fn::GetAtt": ["Q", "Arn"] } }]), lambda_trust()) }),
        );
        assert_eq!(kinds(&compare(&old, &wild)), [(Kind::Permission, "R")]);
        // Widened: a condition dropped.
        let conditioned = template(
            json!({ "R": role(json!([{ "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*", "Condition": { "StringEquals": { "kms:ViaService": "sqs.us-east-1.amazonaws.com" } } }]), lambda_trust()) }),
        );
        let bare = template(
            json!({ "R": role(json!([{ "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*" }]), lambda_trust()) }),
        );
        assert_eq!(
            kinds(&compare(&conditioned, &bare)),
            [(Kind::Permission, "R")]
        );
        // Narrowing is not: the wildcard back to one action, the condition added, a statement
        // removed; and an action matched by an old wildcard (case-insensitively) is covered.
        assert!(compare(&wild, &old).is_empty());
        assert!(compare(&bare, &conditioned).is_empty());
        assert!(compare(&more, &old).is_empty());
        let lower = template(
            json!({ "R": role(json!([{ "Effect": "Allow", "Action": "SQS:sendmessage", "Resource": { "Fn::GetAtt": ["Q", "Arn"] } }]), lambda_trust()) }),
        );
        assert!(compare(&wild, &lower).is_empty());
    }

    #[test]
    fn a_deny_removed_and_a_new_role_or_managed_policy_are_broadening() {
        let deny = json!({ "Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": "*" });
        let old = template(json!({ "R": role(json!([send_to("Q"), deny]), lambda_trust()) }));
        let new = template(json!({ "R": role(json!([send_to("Q")]), lambda_trust()) }));
        let b = compare(&old, &new);
        assert_eq!(kinds(&b), [(Kind::Permission, "R")]);
        assert!(
            b[0].detail
                .starts_with("no longer denies dynamodb:DeleteTable"),
            "{b:?}"
        );
        assert!(compare(&new, &old).is_empty());

        let mut managed = new.clone();
        managed["Resources"]["R"]["Properties"]["ManagedPolicyArns"] =
            json!(["arn:aws:iam::aws:policy/AdministratorAccess"]);
        let b = compare(&new, &managed);
        assert_eq!(kinds(&b), [(Kind::Permission, "R")]);
        assert!(b[0].detail.contains("AdministratorAccess"), "{b:?}");

        let two = template(json!({
            "R": role(json!([send_to("Q")]), lambda_trust()),
            "Extra": role(json!([send_to("Q")]), lambda_trust())
        }));
        assert_eq!(
            kinds(&compare(&new, &two)),
            [(Kind::Permission, "Extra"), (Kind::RoleTrust, "Extra")]
        );
    }

    #[test]
    fn a_role_trusted_by_more_principals_is_broadening() {
        let old = template(json!({ "R": role(json!([]), lambda_trust()) }));
        let account = template(json!({ "R": role(json!([]), json!([
            { "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole" },
            { "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::111122223333:root" }, "Action": "sts:AssumeRole" }
        ])) }));
        let b = compare(&old, &account);
        assert_eq!(kinds(&b), [(Kind::RoleTrust, "R")]);
        assert!(
            b[0].detail.contains("AWS:arn:aws:iam::111122223333:root"),
            "{b:?}"
        );
        let everyone = template(json!({ "R": role(json!([]), json!([
            { "Effect": "Allow", "Principal": { "AWS": "*" }, "Action": "sts:AssumeRole" }
        ])) }));
        assert_eq!(kinds(&compare(&old, &everyone)), [(Kind::RoleTrust, "R")]);
        // Everyone covers any one principal: the other way is narrowing.
        assert!(compare(&everyone, &account).is_empty());
    }

    #[test]
    fn a_loosened_resource_or_key_policy_is_broadening() {
        let queue_policy = |principal: Value, queues: Value| {
            json!({
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": queues,
                    "PolicyDocument": { "Statement": [
                        { "Effect": "Allow", "Principal": principal, "Action": "sqs:SendMessage", "Resource": "*" }
                    ] }
                }
            })
        };
        let sns = json!({ "Service": "sns.amazonaws.com" });
        let old = template(json!({ "P": queue_policy(sns.clone(), json!([{ "Ref": "Q" }])) }));
        let anyone = template(json!({ "P": queue_policy(json!("*"), json!([{ "Ref": "Q" }])) }));
        assert_eq!(
            kinds(&compare(&old, &anyone)),
            [(Kind::ResourcePolicy, "P")]
        );
        let more_queues =
            template(json!({ "P": queue_policy(sns, json!([{ "Ref": "Q" }, { "Ref": "Dlq" }])) }));
        let b = compare(&old, &more_queues);
        assert_eq!(kinds(&b), [(Kind::ResourcePolicy, "P")]);
        assert!(b[0].detail.contains("Dlq"), "{b:?}");
        assert!(compare(&anyone, &old).is_empty());

        let key = |principal: Value| {
            json!({ "Type": "AWS::KMS::Key", "Properties": { "KeyPolicy": { "Statement": [
                { "Effect": "Allow", "Principal": principal, "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*" }
            ] } } })
        };
        let old = template(json!({ "K": key(json!({ "Service": "sqs.amazonaws.com" })) }));
        let new = template(
            json!({ "K": key(json!({ "Service": ["sqs.amazonaws.com", "sns.amazonaws.com"] })) }),
        );
        let b = compare(&old, &new);
        assert_eq!(kinds(&b), [(Kind::KeyPolicy, "K")]);
        assert_eq!(
            b[0].detail,
            "Service:sns.amazonaws.com allows kms:Decrypt, kms:GenerateDataKey on *"
        );
        assert!(compare(&new, &old).is_empty());
    }

    #[test]
    fn an_invoke_permission_added_or_changed_is_broadening() {
        let permission = |source: Value| {
            json!({ "Type": "AWS::Lambda::Permission", "Properties": {
                "Action": "lambda:InvokeFunction", "FunctionName": { "Ref": "F" },
                "Principal": "apigateway.amazonaws.com", "SourceArn": source
            } })
        };
        let old = template(
            json!({ "P": permission(json!("arn:aws:execute-api:us-east-1:1:api/live/POST/webhook/*")) }),
        );
        let wider =
            template(json!({ "P": permission(json!("arn:aws:execute-api:us-east-1:1:api/*")) }));
        assert_eq!(
            kinds(&compare(&old, &wider)),
            [(Kind::InvokePermission, "P")]
        );
        assert_eq!(
            kinds(&compare(&template(json!({})), &old)),
            [(Kind::InvokePermission, "P")]
        );
        assert!(compare(&old, &template(json!({}))).is_empty());
    }

    fn acl(rate: Value, overrides: Value, default: Value) -> Value {
        json!({ "Type": "AWS::WAFv2::WebACL", "Properties": {
            "DefaultAction": default,
            "Rules": [
                { "Name": "per-ip-rate", "Priority": 0, "Action": { "Block": {} },
                  "Statement": { "RateBasedStatement": rate } },
                { "Name": "common", "Priority": 1, "OverrideAction": { "None": {} },
                  "Statement": { "ManagedRuleGroupStatement": {
                      "VendorName": "AWS", "Name": "AWSManagedRulesCommonRuleSet",
                      "RuleActionOverrides": overrides } } }
            ]
        } })
    }

    fn rate(limit: u64, window: u64) -> Value {
        json!({ "Limit": limit, "EvaluationWindowSec": window, "AggregateKeyType": "IP",
                "ScopeDownStatement": { "NotStatement": { "Statement": { "IPSetReferenceStatement":
                    { "Arn": { "Fn::GetAtt": ["Exempt", "Arn"] } } } } } })
    }

    fn ip_set(addresses: Value) -> Value {
        json!({ "Type": "AWS::WAFv2::IPSet", "Properties": { "Addresses": addresses } })
    }

    fn waf(acl: Value, exempt: Value) -> Value {
        template(json!({ "Acl": acl, "Exempt": ip_set(exempt) }))
    }

    #[test]
    fn the_per_ip_limit_raised_is_broadening_by_rate_not_by_number() {
        let allow = json!({ "Allow": {} });
        let old = waf(acl(rate(600, 60), json!([]), allow.clone()), json!([]));
        // 1200 per 60 s: twice the rate.
        let b = compare(
            &old,
            &waf(acl(rate(1200, 60), json!([]), allow.clone()), json!([])),
        );
        assert_eq!(kinds(&b), [(Kind::PerIpLimit, "Acl")]);
        assert_eq!(
            b[0].detail,
            "rule per-ip-rate allows 1200 per 60 s (was 600 per 60 s)"
        );
        // 600 per 30 s is the same number over a shorter window: also twice the rate.
        let b = compare(
            &old,
            &waf(acl(rate(600, 30), json!([]), allow.clone()), json!([])),
        );
        assert_eq!(kinds(&b), [(Kind::PerIpLimit, "Acl")]);
        // 1200 per 120 s is the same rate; 300 per 60 s is lower.
        assert!(
            compare(
                &old,
                &waf(acl(rate(1200, 120), json!([]), allow.clone()), json!([]))
            )
            .is_empty()
        );
        assert!(
            compare(
                &old,
                &waf(acl(rate(300, 60), json!([]), allow.clone()), json!([]))
            )
            .is_empty()
        );
        // Without a window the rule counts over 300 s: 600 then is 2 per second, lower.
        let mut default_window = rate(600, 0);
        default_window
            .as_object_mut()
            .unwrap()
            .remove("EvaluationWindowSec");
        assert!(compare(&old, &waf(acl(default_window, json!([]), allow), json!([]))).is_empty());
    }

    #[test]
    fn a_weakened_web_acl_is_broadening() {
        let allow = json!({ "Allow": {} });
        let old = waf(acl(rate(600, 60), json!([]), allow.clone()), json!([]));
        // A managed group's rule set to count.
        let counted = waf(
            acl(
                rate(600, 60),
                json!([{ "Name": "SizeRestrictions_BODY", "ActionToUse": { "Count": {} } }]),
                allow.clone(),
            ),
            json!([]),
        );
        let b = compare(&old, &counted);
        assert_eq!(kinds(&b), [(Kind::WafRule, "Acl")]);
        assert!(b[0].detail.contains("SizeRestrictions_BODY"), "{b:?}");
        assert!(compare(&counted, &old).is_empty());
        // The rate rule set to count.
        let mut count = old.clone();
        count["Resources"]["Acl"]["Properties"]["Rules"][0]["Action"] = json!({ "Count": {} });
        assert_eq!(kinds(&compare(&old, &count)), [(Kind::WafRule, "Acl")]);
        // The managed group only counting.
        let mut group_counts = old.clone();
        group_counts["Resources"]["Acl"]["Properties"]["Rules"][1]["OverrideAction"] =
            json!({ "Count": {} });
        assert_eq!(
            kinds(&compare(&old, &group_counts)),
            [(Kind::WafRule, "Acl")]
        );
        // A rule removed.
        let mut removed = old.clone();
        removed["Resources"]["Acl"]["Properties"]["Rules"]
            .as_array_mut()
            .unwrap()
            .pop();
        let b = compare(&old, &removed);
        assert_eq!(kinds(&b), [(Kind::WafRule, "Acl")]);
        assert_eq!(b[0].detail, "rule common removed");
        assert!(compare(&removed, &old).is_empty());
        // The default action from block to allow.
        let blocking = waf(
            acl(rate(600, 60), json!([]), json!({ "Block": {} })),
            json!([]),
        );
        assert_eq!(kinds(&compare(&blocking, &old)), [(Kind::WafRule, "Acl")]);
        assert!(compare(&old, &blocking).is_empty());
        // The web ACL gone.
        let gone = template(json!({ "Exempt": ip_set(json!([])) }));
        assert_eq!(kinds(&compare(&old, &gone)), [(Kind::WafRule, "Acl")]);
    }

    #[test]
    fn an_exempt_range_added_is_broadening_and_a_blocked_one_removed_too() {
        let allow = json!({ "Allow": {} });
        let old = waf(
            acl(rate(600, 60), json!([]), allow.clone()),
            json!(["203.0.113.0/24"]),
        );
        let new = waf(
            acl(rate(600, 60), json!([]), allow),
            json!(["203.0.113.0/24", "198.51.100.0/24"]),
        );
        let b = compare(&old, &new);
        assert_eq!(kinds(&b), [(Kind::ExemptCidr, "Exempt")]);
        assert_eq!(b[0].detail, "198.51.100.0/24 exempted");
        assert!(compare(&new, &old).is_empty());

        // A block list: a plain reference in a blocking rule.
        let block_list = |addresses: Value| {
            template(json!({
                "Acl": { "Type": "AWS::WAFv2::WebACL", "Properties": { "DefaultAction": { "Allow": {} }, "Rules": [
                    { "Name": "deny-list", "Action": { "Block": {} }, "Statement": {
                        "IPSetReferenceStatement": { "Arn": { "Fn::GetAtt": ["Exempt", "Arn"] } } } }
                ] } },
                "Exempt": ip_set(addresses)
            }))
        };
        let old = block_list(json!(["192.0.2.0/24", "198.51.100.7/32"]));
        let new = block_list(json!(["192.0.2.0/24"]));
        let b = compare(&old, &new);
        assert_eq!(kinds(&b), [(Kind::ExemptCidr, "Exempt")]);
        assert_eq!(b[0].detail, "198.51.100.7/32 no longer blocked");
        assert!(compare(&new, &old).is_empty());
    }

    #[test]
    fn a_raised_or_removed_stage_throttle_is_broadening() {
        let stage = |rate: Value, burst: Value| {
            template(
                json!({ "S": { "Type": "AWS::ApiGateway::Stage", "Properties": { "MethodSettings": [
                { "ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst }
            ] } } }),
            )
        };
        let old = stage(json!(1000), json!(2000));
        let b = compare(&old, &stage(json!(1500), json!(2000)));
        assert_eq!(kinds(&b), [(Kind::StageThrottle, "S")]);
        assert_eq!(b[0].detail, "* /*: rate limit 1000 -> 1500");
        assert_eq!(
            kinds(&compare(&old, &stage(json!(1000), json!(5000)))),
            [(Kind::StageThrottle, "S")]
        );
        let unthrottled =
            template(json!({ "S": { "Type": "AWS::ApiGateway::Stage", "Properties": {} } }));
        assert_eq!(compare(&old, &unthrottled).len(), 2);
        assert!(compare(&old, &stage(json!(500), json!(1000))).is_empty());
    }

    #[test]
    fn a_method_without_its_authorization_is_broadening() {
        let method = |auth: &str| {
            template(
                json!({ "M": { "Type": "AWS::ApiGateway::Method", "Properties": { "AuthorizationType": auth } } }),
            )
        };
        assert_eq!(
            kinds(&compare(&method("AWS_IAM"), &method("NONE"))),
            [(Kind::MethodAuthorization, "M")]
        );
        assert!(compare(&method("NONE"), &method("AWS_IAM")).is_empty());
    }

    /// `specs/prod.yaml` compiled as written and with `edits` (line replacements).
    fn prod(edits: &[(&str, &str)]) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/prod.yaml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (old, new) in edits {
            assert!(text.contains(old), "no {old:?} in specs/prod.yaml");
            text = text.replace(old, new);
        }
        let c = crate::pipeline::compile_source(&path, &text).unwrap();
        serde_json::from_str(c.template()).unwrap()
    }

    #[test]
    fn spec_changes_that_widen_the_compiled_stack_are_found_and_those_that_narrow_it_are_not() {
        let base = prod(&[]);
        assert!(compare(&base, &base).is_empty());
        // The seed's limits (README): 10/s per IP over 1 min, 1000/s with a burst of 2000.
        let b = compare(&base, &prod(&[("per_ip_rate: 10/s", "per_ip_rate: 20/s")]));
        assert_eq!(kinds(&b), [(Kind::PerIpLimit, "WebAcl")]);
        assert_eq!(
            b[0].detail,
            "rule per-ip-rate allows 1200 per 60 s (was 600 per 60 s)"
        );
        let b = compare(&base, &prod(&[("api_rate: 1000/s", "api_rate: 1500/s")]));
        assert!(b.iter().any(|b| b.kind == Kind::StageThrottle), "{b:?}");
        assert!(b.iter().all(|b| b.kind == Kind::StageThrottle), "{b:?}");
        let b = compare(
            &base,
            &prod(&[(
                "    - 203.0.113.0/24",
                "    - 203.0.113.0/24\n    - 198.51.100.0/24",
            )]),
        );
        assert_eq!(kinds(&b), [(Kind::ExemptCidr, "ExemptIpSetV4")]);
        let b = compare(
            &base,
            &prod(&[(
                "managed_rules: [common, known-bad-inputs]",
                "managed_rules: [common]",
            )]),
        );
        assert_eq!(kinds(&b), [(Kind::WafRule, "WebAcl")]);
        assert!(
            b[0].detail.contains("AWSManagedRulesKnownBadInputsRuleSet"),
            "{b:?}"
        );
        // The other way round narrows.
        for edit in [
            ("per_ip_rate: 10/s", "per_ip_rate: 5/s"),
            ("api_rate: 1000/s", "api_rate: 500/s"),
        ] {
            let narrower = prod(&[edit]);
            assert!(compare(&base, &narrower).is_empty(), "{edit:?}");
        }
    }
}
