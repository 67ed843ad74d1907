//! What a change set will do, as `wh deploy` and `wh diff` show it, and the replacement gate:
//! pure functions over the changes CloudFormation described.

use serde::Serialize;
use serde_json::Value;

/// What happens to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A new resource.
    Add,
    /// Updated in place.
    Modify,
    /// Deleted and created anew (CloudFormation's `Replacement: True`, or `Conditional`: it may
    /// be, depending on values known only while updating).
    Replace,
    /// Deleted.
    Remove,
}

impl Action {
    /// The sign a plan line starts with, as in `terraform plan`.
    pub fn sign(self) -> &'static str {
        match self {
            Action::Add => "+",
            Action::Modify => "~",
            Action::Replace => "-/+",
            Action::Remove => "-",
        }
    }
}

/// One resource's change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What happens.
    pub action: Action,
    /// The template's logical id.
    pub logical_id: String,
    /// The resource type (`AWS::SQS::Queue`).
    pub resource_type: String,
    /// `Conditional` replacement: CloudFormation decides while updating.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub maybe: bool,
    /// The properties that cause the change, as CloudFormation names them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
    /// In a drift-aware change set, the resource's drift (`MODIFIED`, `DELETED`) that the
    /// deploy reverts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<String>,
}

/// Resource types that hold data: replacing or removing one loses it.
pub const STATEFUL_TYPES: [&str; 6] = [
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::KMS::Key",
    "AWS::Events::EventBus",
    "AWS::SecretsManager::Secret",
    "AWS::Logs::LogGroup",
];

/// The stack policy `wh deploy` sets: no update may replace or delete a stateful resource. It
/// backs the replacement gate inside CloudFormation itself, so an update from the console or
/// another tool is refused too; `--allow-replace` lifts it for one update.
pub fn protecting_policy() -> Value {
    serde_json::json!({
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "Update:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["Update:Replace", "Update:Delete"],
                "Resource": "*",
                "Condition": {"StringEquals": {"ResourceType": STATEFUL_TYPES}}
            }
        ]
    })
}

/// The stack policy during an update run with `--allow-replace`.
pub fn permissive_policy() -> Value {
    serde_json::json!({
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "Update:*", "Resource": "*"}]
    })
}

/// Properties that give a resource a fixed physical name. CloudFormation cannot replace such a
/// resource (the new one would need the name the old one still holds), so the update fails
/// half-way and rolls back.
const NAME_PROPERTIES: [&str; 6] = [
    "TableName",
    "QueueName",
    "FunctionName",
    "RoleName",
    "LogGroupName",
    "AliasName",
];

/// The plan of a change set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Every change, in CloudFormation's order.
    pub changes: Vec<Change>,
}

/// How many of each action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Added.
    pub add: usize,
    /// Modified in place.
    pub modify: usize,
    /// Replaced.
    pub replace: usize,
    /// Removed.
    pub remove: usize,
}

/// A change the replacement gate stops, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Blocked {
    /// The change.
    pub logical_id: String,
    /// Why it is dangerous.
    pub reason: String,
}

impl Plan {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Counts by action.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for change in &self.changes {
            match change.action {
                Action::Add => c.add += 1,
                Action::Modify => c.modify += 1,
                Action::Replace => c.replace += 1,
                Action::Remove => c.remove += 1,
            }
        }
        c
    }

    /// The one line at the top: `3 to add, 1 to modify, 0 to replace, 0 to remove`.
    pub fn summary(&self) -> String {
        let c = self.counts();
        format!(
            "{} to add, {} to modify, {} to replace, {} to remove",
            c.add, c.modify, c.replace, c.remove
        )
    }

    /// The plan for people: the summary, then one line per change.
    pub fn render(&self) -> String {
        let mut out = self.summary();
        out.push('\n');
        for c in &self.changes {
            let maybe = if c.maybe { " (may be replaced)" } else { "" };
            let drift = match &c.drift {
                Some(d) => format!(" (drift {d}: reverted to the template)"),
                None => String::new(),
            };
            let causes = if c.causes.is_empty() {
                String::new()
            } else {
                format!(" [{}]", c.causes.join(", "))
            };
            out.push_str(&format!(
                "  {:>3} {} {}{maybe}{drift}{causes}\n",
                c.action.sign(),
                c.logical_id,
                c.resource_type
            ));
        }
        out
    }

    /// The changes the replacement gate stops: replacing a stateful or custom-named resource, or
    /// removing a stateful one. `template` is the template being deployed (for the names).
    pub fn blocked(&self, template: &Value) -> Vec<Blocked> {
        self.changes
            .iter()
            .filter_map(|c| {
                let stateful = STATEFUL_TYPES.contains(&c.resource_type.as_str());
                let reason = match c.action {
                    Action::Remove if stateful => "removing it deletes the data it holds",
                    Action::Replace if stateful => {
                        "replacing it starts an empty one; the data stays in the old one or is lost"
                    }
                    Action::Replace if custom_named(template, &c.logical_id) => {
                        "it has a fixed name, so CloudFormation cannot replace it and the update would roll back"
                    }
                    _ => return None,
                };
                Some(Blocked {
                    logical_id: c.logical_id.clone(),
                    reason: format!("{} ({}): {reason}", c.logical_id, c.resource_type),
                })
            })
            .collect()
    }
}

fn custom_named(template: &Value, logical_id: &str) -> bool {
    let properties = &template["Resources"][logical_id]["Properties"];
    NAME_PROPERTIES
        .iter()
        .any(|p| properties.get(p).is_some())
        // An event bus, secret, web ACL or IP set is named by `Name`; an API's `Name` is a label.
        || (properties.get("Name").is_some()
            && !template["Resources"][logical_id]["Type"]
                .as_str()
                .is_some_and(|t| t.starts_with("AWS::ApiGateway::")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(action: Action, id: &str, ty: &str) -> Change {
        Change {
            action,
            logical_id: id.into(),
            resource_type: ty.into(),
            maybe: false,
            causes: vec![],
            drift: None,
        }
    }

    #[test]
    fn the_stack_policy_denies_replacing_and_deleting_every_stateful_type() {
        let p = protecting_policy();
        let deny = &p["Statement"][1];
        assert_eq!(deny["Effect"], "Deny");
        assert_eq!(deny["Action"], json!(["Update:Replace", "Update:Delete"]));
        assert_eq!(
            deny["Condition"]["StringEquals"]["ResourceType"],
            json!(STATEFUL_TYPES)
        );
        assert_eq!(
            permissive_policy()["Statement"].as_array().unwrap().len(),
            1
        );
    }

    #[test]
    fn the_summary_counts_each_action() {
        let plan = Plan {
            changes: vec![
                change(Action::Add, "A", "AWS::SNS::Topic"),
                change(Action::Add, "B", "AWS::SNS::Topic"),
                change(Action::Modify, "C", "AWS::Lambda::Function"),
                change(Action::Remove, "D", "AWS::CloudWatch::Alarm"),
            ],
        };
        assert_eq!(
            plan.summary(),
            "2 to add, 1 to modify, 0 to replace, 1 to remove"
        );
        let text = plan.render();
        assert!(text.contains("    - D AWS::CloudWatch::Alarm"), "{text}");
    }

    #[test]
    fn the_gate_stops_stateful_and_named_replacements_only() {
        let template = json!({"Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "x-prod"}},
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "x-prod"}},
            "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}},
        }});
        let plan = Plan {
            changes: vec![
                change(Action::Replace, "Table", "AWS::DynamoDB::Table"),
                change(Action::Remove, "Queue", "AWS::SQS::Queue"),
                change(Action::Replace, "Fn", "AWS::Lambda::Function"),
                change(Action::Replace, "Api", "AWS::ApiGateway::RestApi"),
                change(Action::Replace, "Alarm", "AWS::CloudWatch::Alarm"),
                change(Action::Modify, "Key", "AWS::KMS::Key"),
                change(Action::Remove, "Alarm2", "AWS::CloudWatch::Alarm"),
            ],
        };
        let blocked: Vec<_> = plan
            .blocked(&template)
            .into_iter()
            .map(|b| b.logical_id)
            .collect();
        assert_eq!(blocked, ["Table", "Queue", "Fn"]);
    }
}
