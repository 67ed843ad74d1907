//! The self-contained summary a run leaves beside goose's reports: Markdown, no assets.

use crate::verdict::{Outcome, Verdict};

/// The summary: one row per check, then each check's parts, tolerances and generator figures.
pub fn markdown(stack: &str, target: &str, mode: &str, verdicts: &[Verdict]) -> String {
    let mut out = format!(
        "# wh loadtest: {stack}\n\nTarget: {target} ({mode})\n\n| check | verdict | 2xx | 429 | per-IP 403 | other 4xx | 5xx | no answer |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n"
    );
    for v in verdicts {
        let c = v.counts;
        let not_run = v
            .parts
            .iter()
            .filter(|p| p.outcome == Outcome::NotRun)
            .count();
        let label = if not_run == 0 {
            v.outcome.label().to_owned()
        } else {
            format!("{} ({not_run} parts not run)", v.outcome.label())
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            v.check,
            label,
            c.ok_2xx,
            c.throttled_429,
            c.blocked_403,
            c.other_4xx,
            c.server_5xx,
            c.no_answer
        ));
    }
    for v in verdicts {
        out.push_str(&format!(
            "\n## {}: {}\n\n| part | result | measured | expected |\n| --- | --- | --- | --- |\n",
            v.check,
            v.outcome.label()
        ));
        for p in &v.parts {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                p.name,
                p.outcome.label(),
                p.measured,
                p.expected
            ));
        }
        out.push_str(&format!(
            "\nTolerance: {}. {}\n\nGenerator: {}\n",
            v.tolerance, v.tolerance_reason, v.generator
        ));
    }
    out
}
