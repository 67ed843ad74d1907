//! What `wh diff` shows for review: the change set's plan, what the replacement gate would stop,
//! what the update widens, what drifted and the rollback triggers, as one JSON document (for
//! scripts) and as Markdown (a pull-request comment or a job summary: `wh diff --markdown`).

use serde::Serialize;

use super::broadening::Broadening;
use super::drift::Drift;
use super::plan::{Blocked, Counts, Plan};
use super::rollback::Triggers;

/// Everything a reviewer needs before `wh deploy`.
#[derive(Clone, Debug, Serialize)]
pub struct Review {
    /// The stack.
    pub stack: String,
    /// Whether the deploy creates it.
    pub create: bool,
    /// Changes by action.
    pub summary: Counts,
    /// The change set's changes.
    pub changes: Vec<super::plan::Change>,
    /// What the replacement gate stops (needs `--allow-replace`).
    pub blocked: Vec<Blocked>,
    /// What the update widens (needs `--approve-broadening`).
    pub broadening: Vec<Broadening>,
    /// Rollback triggers the deploy would send (`None`: not read).
    pub rollback_triggers: Option<Triggers>,
    /// What drifted (`None`: not checked).
    pub drift: Option<Drift>,
}

impl Review {
    /// A review of `plan` for `stack`.
    pub fn new(stack: &str, create: bool, plan: &Plan, template: &serde_json::Value) -> Review {
        Review {
            stack: stack.to_owned(),
            create,
            summary: plan.counts(),
            changes: plan.changes.clone(),
            blocked: plan.blocked(template),
            broadening: Vec::new(),
            rollback_triggers: None,
            drift: None,
        }
    }

    /// What `wh deploy` would need beyond a plain run: the flags, each with its reason.
    pub fn needs(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.blocked.is_empty() {
            out.push(format!(
                "`--allow-replace`: {} stateful or named resource{} replaced or removed",
                self.blocked.len(),
                plural(self.blocked.len())
            ));
        }
        if !self.broadening.is_empty() {
            out.push(format!(
                "`--approve-broadening`: {} change{} widening access",
                self.broadening.len(),
                plural(self.broadening.len())
            ));
        }
        if self.drift.as_ref().is_some_and(Drift::drifted) {
            out.push(
                "`--overwrite-drift`: the deploy reverts changes made outside CloudFormation"
                    .into(),
            );
        }
        if let Some(t) = &self.rollback_triggers
            && !t.firing.is_empty()
        {
            out.push(format!(
                "`--despite-alarms`: {} in ALARM already",
                t.firing.join(", ")
            ));
        }
        out
    }

    /// Markdown for a pull request or a job summary.
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "### `wh diff`: {} ({})\n\n",
            self.stack,
            if self.create { "new stack" } else { "update" }
        );
        let c = self.summary;
        md.push_str(&format!(
            "**{} to add, {} to modify, {} to replace, {} to remove**\n\n",
            c.add, c.modify, c.replace, c.remove
        ));
        let needs = self.needs();
        if self.changes.is_empty() && needs.is_empty() {
            md.push_str("No changes: `wh deploy` has nothing to do.\n");
            return md;
        }
        if needs.is_empty() {
            md.push_str("A plain `wh deploy` applies this.\n\n");
        } else {
            md.push_str("`wh deploy` stops on this without:\n\n");
            for n in &needs {
                md.push_str(&format!("- {n}\n"));
            }
            md.push('\n');
        }
        if !self.broadening.is_empty() {
            md.push_str("#### Broadening (widens access)\n\n| resource | kind | what |\n| --- | --- | --- |\n");
            for b in &self.broadening {
                let kind = serde_json::to_value(b.kind).unwrap_or_default();
                md.push_str(&format!(
                    "| `{}` | {} | {} |\n",
                    b.logical_id,
                    kind.as_str().unwrap_or(""),
                    cell(&b.detail)
                ));
            }
            md.push('\n');
        }
        if !self.blocked.is_empty() {
            md.push_str("#### Replaced or removed state\n\n");
            for b in &self.blocked {
                md.push_str(&format!("- `{}`: {}\n", b.logical_id, cell(&b.reason)));
            }
            md.push('\n');
        }
        if let Some(d) = self.drift.as_ref().filter(|d| d.drifted()) {
            md.push_str("#### Drift (the deploy reverts it)\n\n```\n");
            for line in d.render() {
                md.push_str(&line);
                md.push('\n');
            }
            md.push_str("```\n\n");
        }
        if !self.changes.is_empty() {
            md.push_str(
                "#### Changes\n\n| | resource | type | caused by |\n| --- | --- | --- | --- |\n",
            );
            for ch in &self.changes {
                md.push_str(&format!(
                    "| `{}` | `{}` | `{}` | {}{} |\n",
                    ch.action.sign(),
                    ch.logical_id,
                    ch.resource_type,
                    cell(&ch.causes.join(", ")),
                    match (&ch.drift, ch.maybe) {
                        (Some(d), _) => format!(" (drift {d}: reverted to the template)"),
                        (None, true) => " (may be replaced)".into(),
                        (None, false) => String::new(),
                    }
                ));
            }
            md.push('\n');
        }
        if let Some(t) = &self.rollback_triggers {
            md.push_str(&format!(
                "Rollback triggers: {} alarm{}, watched for {} min after the update.\n",
                t.arns.len(),
                plural(t.arns.len()),
                t.monitoring_minutes
            ));
        }
        md
    }
}

/// `s` unless `n` is one: `{n} change{plural(n)}`.
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Text safe inside a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::broadening::Kind;
    use crate::deploy::plan::{Action, Change};

    fn review() -> Review {
        let plan = Plan {
            changes: vec![Change {
                action: Action::Modify,
                logical_id: "WebAcl".into(),
                resource_type: "AWS::WAFv2::WebACL".into(),
                maybe: false,
                causes: vec!["Rules".into()],
                drift: None,
            }],
        };
        Review::new("payments-prod", false, &plan, &serde_json::json!({}))
    }

    #[test]
    fn a_plain_update_needs_no_flags() {
        let r = review();
        assert!(r.needs().is_empty());
        let md = r.markdown();
        assert!(
            md.starts_with("### `wh diff`: payments-prod (update)\n"),
            "{md}"
        );
        assert!(
            md.contains("**0 to add, 1 to modify, 0 to replace, 0 to remove**"),
            "{md}"
        );
        assert!(md.contains("A plain `wh deploy` applies this."), "{md}");
        assert!(
            md.contains("| `~` | `WebAcl` | `AWS::WAFv2::WebACL` | Rules |"),
            "{md}"
        );
        assert!(!md.contains("Broadening"), "{md}");
    }

    #[test]
    fn broadening_drift_and_firing_alarms_are_listed_with_the_flag_each_needs() {
        let mut r = review();
        r.broadening.push(Broadening {
            kind: Kind::PerIpLimit,
            logical_id: "WebAcl".into(),
            detail: "rule per-ip-rate allows 1200 per 60 s (was 600 per 60 s)".into(),
        });
        r.drift = Some(Drift {
            status: "DRIFTED".into(),
            drifted: vec![crate::deploy::drift::ResourceDrift {
                logical_id: "ReceiverFunction".into(),
                resource_type: "AWS::Lambda::Function".into(),
                status: "MODIFIED".into(),
                differences: Vec::new(),
            }],
            not_checked: Vec::new(),
        });
        r.rollback_triggers = Some(Triggers {
            arns: vec!["arn:aws:cloudwatch:us-east-1:1:alarm:payments-api-5xx-prod".into()],
            monitoring_minutes: 5,
            left_out: Vec::new(),
            firing: vec!["payments-api-5xx-prod".into()],
        });
        let needs = r.needs();
        assert_eq!(needs.len(), 3, "{needs:?}");
        let md = r.markdown();
        assert!(
            md.contains("- `--approve-broadening`: 1 change widening access"),
            "{md}"
        );
        assert!(md.contains("- `--overwrite-drift`"), "{md}");
        assert!(
            md.contains("- `--despite-alarms`: payments-api-5xx-prod in ALARM already"),
            "{md}"
        );
        assert!(
            md.contains("| `WebAcl` | per-ip-limit | rule per-ip-rate allows 1200 per 60 s (was 600 per 60 s) |"),
            "{md}"
        );
        assert!(
            md.contains("drifted: ReceiverFunction (AWS::Lambda::Function) MODIFIED"),
            "{md}"
        );
        assert!(
            md.contains("Rollback triggers: 1 alarm, watched for 5 min"),
            "{md}"
        );
        assert!(!md.contains("A plain `wh deploy`"), "{md}");
    }

    #[test]
    fn no_changes_say_so() {
        let r = Review::new(
            "payments-prod",
            false,
            &Plan::default(),
            &serde_json::json!({}),
        );
        assert_eq!(
            r.markdown(),
            "### `wh diff`: payments-prod (update)\n\n**0 to add, 0 to modify, 0 to replace, 0 to remove**\n\nNo changes: `wh deploy` has nothing to do.\n"
        );
    }

    #[test]
    fn a_pipe_in_a_detail_does_not_break_the_table() {
        assert_eq!(cell("a | b\nc"), "a \\| b c");
    }
}
