//! The summaries a run (or a merge) leaves beside goose's reports, all self-contained: Markdown
//! (`summary.md`), JSON (`summary.json`) and HTML (`summary.html`) with inline SVG plots of each
//! phase, no script, style sheet or font from a network, so it opens offline and in a CI
//! artifact viewer.
//!
//! Every plotted series also carries its numbers (`data-values` on each `polyline`, `data-value`
//! on each limit line, `data-at` on each marker), so a test reads what the page shows.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use serde_json::json;

use crate::measure::{PhaseMeasure, TICK};
use crate::merge::Merged;
use crate::plan::Check;
use crate::run::RunPlan;
use crate::verdict::{Counts, Outcome, Verdict};

/// What the summaries describe.
pub struct Summary<'a> {
    /// The stack's name.
    pub stack: &'a str,
    /// The stage URL.
    pub target: &'a str,
    /// The mode, in words.
    pub mode: &'a str,
    /// The run's measurements (one shard's, or the merged sum).
    pub merged: &'a Merged,
    /// The verdicts.
    pub verdicts: &'a [Verdict],
}

impl Summary<'_> {
    fn plan(&self) -> &RunPlan {
        &self.merged.plan
    }

    fn sources_line(&self) -> String {
        let addresses = self.merged.addresses();
        format!(
            "{} shard{}, {} distinct source address{}",
            self.plan().shards,
            if self.plan().shards == 1 { "" } else { "s" },
            addresses.len(),
            if addresses.len() == 1 { "" } else { "es" }
        )
    }

    /// `summary.json`: every verdict with its parts, the shards and their addresses.
    pub fn json(&self) -> serde_json::Value {
        let addresses: Vec<IpAddr> = self.merged.addresses().into_iter().collect();
        json!({
            "stack": self.stack,
            "target": self.target,
            "mode": self.plan().target,
            "shards": self.plan().shards,
            "start_at": self.plan().start_at,
            "sources": { "distinct": addresses.len(), "addresses": addresses },
            "verdicts": self.verdicts,
        })
    }

    /// `summary.md`: one row per check, then each check's parts, tolerances and generator
    /// figures.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# wh loadtest: {}\n\nTarget: {} ({})\n\nLoad: {}\n\n| check | verdict | 2xx | 429 | per-IP 403 | other 4xx | 5xx | no answer |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
            self.stack,
            self.target,
            self.mode,
            self.sources_line()
        );
        for v in self.verdicts {
            let c = v.counts;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                v.check,
                label(v),
                c.ok_2xx,
                c.throttled_429,
                c.blocked_403,
                c.other_4xx,
                c.server_5xx,
                c.no_answer
            );
        }
        for v in self.verdicts {
            let _ = write!(
                out,
                "\n## {}: {}\n\n| part | result | measured | expected |\n| --- | --- | --- | --- |\n",
                v.check,
                v.outcome.label()
            );
            for p in &v.parts {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    p.name,
                    p.outcome.label(),
                    p.measured,
                    p.expected
                );
            }
            let _ = write!(
                out,
                "\nTolerance: {}. {}\n\nGenerator: {}\n",
                v.tolerance, v.tolerance_reason, v.generator
            );
        }
        out
    }

    /// `summary.html`: the verdict table, then per phase its answer rates per second against
    /// the spec's limits and its latency percentiles over time.
    pub fn html(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>wh loadtest: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>wh loadtest: {}</h1>\n<p>Target: {} ({})<br/>Load: {}{}</p>\n",
            esc(self.stack),
            esc(self.stack),
            esc(self.target),
            esc(self.mode),
            esc(&self.sources_line()),
            self.plan()
                .start_at
                .as_ref()
                .map(|t| format!("<br/>Started at {}", esc(t)))
                .unwrap_or_default()
        );
        out.push_str("<table class=\"verdicts\">\n<tr><th>check</th><th>verdict</th>");
        for class in Counts::CLASSES {
            let _ = write!(out, "<th>{}</th>", esc(class));
        }
        out.push_str("</tr>\n");
        for v in self.verdicts {
            let _ = write!(
                out,
                "<tr data-check=\"{}\"><td>{}</td><td class=\"{}\">{}</td>",
                v.check,
                v.check,
                class_of(v.outcome),
                esc(&label(v))
            );
            for n in v.counts.row() {
                let _ = write!(out, "<td>{n}</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
        for (v, m) in self.verdicts.iter().zip(&self.merged.phases) {
            self.phase_html(&mut out, v, m);
        }
        out.push_str("</body>\n</html>\n");
        out
    }

    fn phase_html(&self, out: &mut String, v: &Verdict, m: &PhaseMeasure) {
        let l = &self.plan().limits;
        let _ = write!(
            out,
            "<section data-check=\"{}\">\n<h2>{}: <span class=\"{}\">{}</span></h2>\n",
            v.check,
            v.check,
            class_of(v.outcome),
            v.outcome.label()
        );
        // Answers per second by class, from the 10 ms ticks.
        let per_second = TICK.as_micros() as u64;
        let seconds = m
            .ticks
            .keys()
            .last()
            .map_or(0, |t| t * per_second / 1_000_000 + 1);
        let mut series: Vec<(&str, Vec<f64>)> = Counts::CLASSES
            .iter()
            .map(|c| (*c, vec![0.0; seconds as usize]))
            .collect();
        for (tick, row) in &m.ticks {
            let s = (tick * per_second / 1_000_000) as usize;
            for (class, n) in row.iter().enumerate() {
                series[class].1[s] += *n as f64;
            }
        }
        let mut limits = vec![("api-rate", "API rate", l.rate)];
        let mut markers = Vec::new();
        let check: Option<Check> = v.check.parse().ok();
        match check {
            Some(Check::PerIp) => {
                // The phase sends a few times the per-IP rate: the API rate's line would flatten
                // the plot, so only the per-IP rate is drawn.
                limits = vec![("per-ip-rate", "per-IP rate", l.per_ip_rate)];
                if let Some(cross) = m.stream(0).and_then(|s| s.mark) {
                    markers.push(("crossing", "crossing", cross.sent_us as f64 / 1e6));
                }
                if let Some(block) = m.stream(0).and_then(|s| s.first_block) {
                    markers.push(("first-block", "first block", block.sent_us as f64 / 1e6));
                }
            }
            Some(Check::Throttle) => {
                if let Some(drained) = m.first_429_sent_us {
                    markers.push(("drained", "bucket drained", drained as f64 / 1e6));
                }
            }
            _ => {}
        }
        series.retain(|(_, values)| values.iter().any(|v| *v > 0.0));
        out.push_str("<h3>Answers per second</h3>\n");
        out.push_str(&chart(
            "rates",
            "requests/s",
            1.0,
            &series,
            &limits,
            &markers,
        ));
        if check == Some(Check::Burst) {
            // The bucket: accepted so far, per 10 ms, against the burst.
            let mut total = 0.0;
            let last = m.ticks.keys().last().copied().unwrap_or(0);
            let accepted: Vec<f64> = (0..=last)
                .map(|t| {
                    total += m.ticks.get(&t).map_or(0, |r| r[0]) as f64;
                    total
                })
                .collect();
            out.push_str("<h3>Accepted so far</h3>\n");
            out.push_str(&chart(
                "accepted",
                "accepted",
                TICK.as_secs_f64(),
                &[("accepted so far", accepted)],
                &[("burst", "burst", f64::from(l.burst))],
                &[],
            ));
        }
        // Latency percentiles per slot, ms.
        let slot = Duration::from_millis(m.slot_ms.max(1));
        let last_slot = m.latency.keys().last().copied().unwrap_or(0);
        let quantiles: Vec<(&str, Vec<f64>)> = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)]
            .into_iter()
            .map(|(name, q)| {
                (
                    name,
                    (0..=last_slot)
                        .map(|s| {
                            m.latency
                                .get(&s)
                                .and_then(|h| h.quantile(q))
                                .map_or(0.0, |d| d.as_secs_f64() * 1e3)
                        })
                        .collect(),
                )
            })
            .collect();
        if !m.latency.is_empty() {
            let _ = writeln!(
                out,
                "<h3>Latency from the scheduled start (ms, per {} s)</h3>",
                slot.as_secs_f64()
            );
            out.push_str(&chart(
                "latency",
                "ms",
                slot.as_secs_f64(),
                &quantiles,
                &[],
                &[],
            ));
        }
        out.push_str("<table class=\"parts\">\n<tr><th>part</th><th>result</th><th>measured</th><th>expected</th></tr>\n");
        for p in &v.parts {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(p.name),
                class_of(p.outcome),
                p.outcome.label(),
                esc(&p.measured),
                esc(&p.expected)
            );
        }
        let _ = write!(
            out,
            "</table>\n<p>Tolerance: {}. {}</p>\n<p>Generator: {}</p>\n</section>\n",
            esc(&v.tolerance),
            esc(&v.tolerance_reason),
            esc(&v.generator)
        );
    }
}

const STYLE: &str = "body{font-family:sans-serif;max-width:60em;margin:1em auto;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}\
.pass{color:#1a7f37;font-weight:bold}.fail{color:#c62828;font-weight:bold}.inconclusive{color:#b26a00;font-weight:bold}.notrun{color:#666}\
svg{background:#fafafa;border:1px solid #ddd}svg text{font-size:11px;fill:#444}";

fn label(v: &Verdict) -> String {
    let not_run = v
        .parts
        .iter()
        .filter(|p| p.outcome == Outcome::NotRun)
        .count();
    if not_run == 0 {
        v.outcome.label().to_owned()
    } else {
        format!("{} ({not_run} parts not run)", v.outcome.label())
    }
}

fn class_of(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::Inconclusive => "inconclusive",
        Outcome::NotRun => "notrun",
    }
}

/// Escapes text for HTML and XML alike.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const COLOURS: [&str; 6] = [
    "#1a7f37", "#e08a00", "#8e44ad", "#7f7f7f", "#c62828", "#000000",
];

fn colour(i: usize) -> &'static str {
    COLOURS[i % COLOURS.len()]
}

/// A line chart: `series` (name, one value per `step` seconds from 0), horizontal `limits`
/// (id, label, value) and vertical `markers` (id, label, seconds).
fn chart(
    id: &str,
    unit: &str,
    step: f64,
    series: &[(&str, Vec<f64>)],
    limits: &[(&str, &str, f64)],
    markers: &[(&str, &str, f64)],
) -> String {
    const W: f64 = 720.0;
    const H: f64 = 240.0;
    const LEFT: f64 = 56.0;
    const RIGHT: f64 = 110.0;
    const TOP: f64 = 10.0;
    const BOTTOM: f64 = 28.0;
    let points = series.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    let x_max = ((points.max(2) - 1) as f64 * step)
        .max(markers.iter().map(|m| m.2).fold(0.0, f64::max))
        .max(step);
    let y_max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .chain(limits.iter().map(|l| l.2))
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let x = |t: f64| LEFT + t / x_max * (W - LEFT - RIGHT);
    let y = |v: f64| TOP + (1.0 - v / y_max) * (H - TOP - BOTTOM);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" data-chart=\"{id}\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\">\n"
    );
    // Axes, four gridlines with their values, and the time axis.
    for i in 0..=4 {
        let v = y_max / 1.1 * f64::from(i) / 4.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e4e4e4\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            y(v),
            W - RIGHT,
            y(v),
            LEFT - 4.0,
            y(v) + 4.0,
            short(v)
        );
    }
    for i in 0..=5 {
        let t = x_max * f64::from(i) / 5.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} s</text>",
            x(t),
            H - BOTTOM + 16.0,
            short(t)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"4\" y=\"{:.1}\">{}</text>",
        TOP + 8.0,
        esc(unit)
    );
    for (i, (name, values)) in series.iter().enumerate() {
        let pts: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(k, v)| format!("{:.1},{:.1}", x(k as f64 * step), y(*v)))
            .collect();
        let data: Vec<String> = values.iter().map(|v| short_exact(*v)).collect();
        let _ = writeln!(
            svg,
            "<polyline data-series=\"{}\" data-step=\"{step}\" data-values=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>",
            esc(name),
            data.join(","),
            colour(i),
            pts.join(" ")
        );
        // Few points: each is marked too (a series of one point draws no line).
        if values.len() <= 30 {
            for (k, v) in values.iter().enumerate() {
                let _ = writeln!(
                    svg,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{}\"/>",
                    x(k as f64 * step),
                    y(*v),
                    colour(i)
                );
            }
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{}\" style=\"fill:{}\">{}</text>",
            W - RIGHT + 6.0,
            TOP + 12.0 + 14.0 * i as f64,
            colour(i),
            colour(i),
            esc(name)
        );
    }
    for (id, label, value) in limits {
        let _ = writeln!(
            svg,
            "<line data-limit=\"{id}\" data-value=\"{}\" x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#1f4e9c\" stroke-dasharray=\"6 4\"/><text x=\"{:.1}\" y=\"{:.1}\">{} {}</text>",
            short_exact(*value),
            y(*value),
            W - RIGHT,
            y(*value),
            W - RIGHT + 6.0,
            y(*value) + 4.0,
            esc(label),
            short(*value)
        );
    }
    for (id, label, at) in markers {
        let _ = writeln!(
            svg,
            "<line data-marker=\"{id}\" data-at=\"{at:.3}\" x1=\"{:.1}\" y1=\"{TOP}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#555\" stroke-dasharray=\"2 3\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x(*at),
            x(*at),
            H - BOTTOM,
            x(*at) + 3.0,
            TOP + 10.0,
            esc(label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A value for an axis label: integers plainly, others to one decimal.
fn short(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A value as data: integers plainly, others to three decimals.
fn short_exact(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}
