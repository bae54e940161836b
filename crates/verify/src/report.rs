//! One report model, rendered as a terminal table, Markdown, JSON and JUnit XML.

use std::fmt::Write as _;
use std::time::Duration;

use preflight_manifest::GateSeverity as Severity;
use serde::Serialize;

use crate::runner::{ProbeSpec, human_duration};
use preflight_redact::Redactor;

/// How a probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    /// The probe could not tell; counts as a failure (fail closed).
    Errored,
    TimedOut,
    /// Stopped by Ctrl-C before it finished; counts as a failure.
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Errored => "error",
            Outcome::TimedOut => "timed out",
            Outcome::Cancelled => "cancelled",
        }
    }
    pub fn passed(self) -> bool {
        self == Outcome::Passed
    }
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    pub name: String,
    pub kind: String,
    pub target: String,
    pub severity: Severity,
    pub outcome: Outcome,
    pub attempts: u32,
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    pub summary: String,
    pub evidence: Vec<String>,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl ProbeResult {
    pub(crate) fn new(
        spec: &ProbeSpec,
        outcome: Outcome,
        attempts: u32,
        duration: Duration,
        summary: String,
    ) -> ProbeResult {
        ProbeResult {
            name: spec.name.clone(),
            kind: spec.probe.kind().to_string(),
            target: spec.probe.target(),
            severity: spec.severity,
            outcome,
            attempts,
            duration,
            summary,
            evidence: Vec::new(),
        }
    }

    /// This result with `r`'s secrets and credential patterns removed.
    pub fn redacted(mut self, r: &Redactor) -> ProbeResult {
        self.target = r.redact(&self.target);
        self.summary = r.redact(&self.summary);
        for line in &mut self.evidence {
            *line = r.redact(line);
        }
        self
    }

    /// A failed hard probe closes the gate.
    pub fn blocks(&self) -> bool {
        !self.outcome.passed() && self.severity == Severity::Hard
    }
}

/// The results of one run of probes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    #[serde(serialize_with = "timestamp")]
    pub started_at: jiff::Timestamp,
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// Stopped by Ctrl-C; some probes did not finish.
    pub interrupted: bool,
    pub results: Vec<ProbeResult>,
}

fn timestamp<S: serde::Serializer>(t: &jiff::Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}

/// Counts by outcome and severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub passed: usize,
    pub hard_failed: usize,
    pub soft_failed: usize,
}

impl Report {
    /// True when every hard probe passed and the run was not interrupted.
    /// An empty report passes: there was nothing to check.
    pub fn gate_passed(&self) -> bool {
        !self.interrupted && !self.results.iter().any(ProbeResult::blocks)
    }

    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for r in &self.results {
            match (r.outcome.passed(), r.severity) {
                (true, _) => t.passed += 1,
                (false, Severity::Hard) => t.hard_failed += 1,
                (false, Severity::Soft) => t.soft_failed += 1,
            }
        }
        t
    }

    /// One line: `7 passed, 1 failed (hard), 2 warnings (soft) in 1.2 s`.
    pub fn summary_line(&self) -> String {
        let t = self.tally();
        let mut line = format!("{} passed", t.passed);
        if t.hard_failed > 0 {
            let _ = write!(line, ", {} failed", t.hard_failed);
        }
        if t.soft_failed > 0 {
            let _ = write!(
                line,
                ", {} soft failure{}",
                t.soft_failed,
                if t.soft_failed == 1 { "" } else { "s" }
            );
        }
        let _ = write!(line, " in {}", human_duration(self.duration));
        if self.interrupted {
            line.push_str(" (interrupted)");
        }
        line
    }

    /// A fixed-width table for terminals. `paint` styles an outcome cell
    /// (the CLI adds colour; pass `|_, s| s.to_string()` for none).
    pub fn to_table(&self, paint: &dyn Fn(&ProbeResult, &str) -> String) -> String {
        let headers = [
            "PROBE", "KIND", "SEVERITY", "RESULT", "TRIES", "TIME", "DETAIL",
        ];
        let rows: Vec<[String; 7]> = self
            .results
            .iter()
            .map(|r| {
                [
                    r.name.clone(),
                    r.kind.clone(),
                    severity_str(r.severity).to_string(),
                    r.outcome.as_str().to_string(),
                    r.attempts.to_string(),
                    human_duration(r.duration),
                    r.summary.clone(),
                ]
            })
            .collect();
        let mut widths = headers.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |cells: &[String], out: &mut String, paint_at: Option<&ProbeResult>| {
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                let text = match paint_at {
                    Some(r) if i == 3 => paint(r, cell),
                    _ => cell.clone(),
                };
                if i + 1 == cells.len() {
                    out.push_str(&text);
                } else {
                    let _ = write!(out, "{text}{}  ", " ".repeat(pad));
                }
            }
            out.push('\n');
        };
        line(&headers.map(String::from), &mut out, None);
        for (row, r) in rows.iter().zip(&self.results) {
            line(row, &mut out, Some(r));
            if !r.outcome.passed() {
                for e in r.evidence.iter().take(12) {
                    let _ = writeln!(out, "    {e}");
                }
            }
        }
        let _ = writeln!(out, "\n{}", self.summary_line());
        out
    }

    /// Markdown for the release log: a table, then the evidence of each
    /// probe that did not pass.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        out.push_str("| Probe | Kind | Severity | Result | Attempts | Time | Detail |\n");
        out.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
        for r in &self.results {
            let mark = if r.outcome.passed() {
                "✅"
            } else if r.severity == Severity::Soft {
                "⚠️"
            } else {
                "❌"
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {mark} {} | {} | {} | {} |",
                md_cell(&r.name),
                r.kind,
                severity_str(r.severity),
                r.outcome.as_str(),
                r.attempts,
                human_duration(r.duration),
                md_cell(&r.summary)
            );
        }
        let _ = writeln!(out, "\n{}", self.summary_line());
        for r in self.results.iter().filter(|r| !r.evidence.is_empty()) {
            let _ = write!(
                out,
                "\n<details><summary>{} evidence</summary>\n\n```text\n",
                md_cell(&r.name)
            );
            for e in &r.evidence {
                let _ = writeln!(out, "{}", e.replace("```", "'''"));
            }
            out.push_str("```\n\n</details>\n");
        }
        out
    }

    /// JUnit XML: one test case per probe. A soft failure is a `<failure
    /// type="soft">`: CI shows it, and the exit code says whether it blocks.
    pub fn to_junit(&self, suite: &str) -> String {
        junit(&[(suite, self)])
    }

    /// Pretty JSON of the whole report.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }
}

/// A JUnit XML document with one `<testsuite>` per report (a release writes
/// one per phase).
pub fn junit(suites: &[(&str, &Report)]) -> String {
    let count = |f: &dyn Fn(&ProbeResult) -> bool| -> usize {
        suites
            .iter()
            .map(|(_, r)| r.results.iter().filter(|p| f(p)).count())
            .sum()
    };
    let is_error = |r: &ProbeResult| matches!(r.outcome, Outcome::Errored | Outcome::Cancelled);
    let is_failure = |r: &ProbeResult| matches!(r.outcome, Outcome::Failed | Outcome::TimedOut);
    let total: usize = suites.iter().map(|(_, r)| r.results.len()).sum();
    let time: f64 = suites.iter().map(|(_, r)| r.duration.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"preflight\" tests=\"{total}\" failures=\"{}\" errors=\"{}\" time=\"{time:.3}\">",
        count(&is_failure),
        count(&is_error)
    );
    for (suite, report) in suites {
        let failures = report.results.iter().filter(|r| is_failure(r)).count();
        let errors = report.results.iter().filter(|r| is_error(r)).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{:.3}\" timestamp=\"{}\">",
            xml(suite),
            report.results.len(),
            report.duration.as_secs_f64(),
            report.started_at
        );
        for r in &report.results {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}.{}\" time=\"{:.3}\"",
                xml(&r.name),
                xml(suite),
                r.kind,
                r.duration.as_secs_f64()
            );
            if r.outcome.passed() && r.evidence.is_empty() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            let body = r.evidence.join("\n");
            let kind = severity_str(r.severity);
            let element = if is_error(r) {
                Some("error")
            } else if is_failure(r) {
                Some("failure")
            } else {
                None
            };
            match element {
                Some(el) => {
                    let _ = writeln!(
                        out,
                        "      <{el} type=\"{kind}\" message=\"{}\">{}</{el}>",
                        xml(&r.summary),
                        xml(&body)
                    );
                }
                None => {
                    let _ = writeln!(out, "      <system-out>{}</system-out>", xml(&body));
                }
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

pub(crate) fn severity_str(s: Severity) -> &'static str {
    match s {
        Severity::Hard => "hard",
        Severity::Soft => "soft",
    }
}

/// `text` as one Markdown table cell: `|` escaped, and every control
/// character (newline, carriage return, escape, …) a space, so no value
/// can end the row or start a line of its own.
pub fn md_cell(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace('|', "\\|")
}

/// Escapes text for XML attributes and content, dropping characters XML 1.0 forbids.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cell_cannot_end_its_row_or_start_a_line() {
        assert_eq!(
            super::md_cell("a|b\n\n## Injected\r\x1b[31m"),
            "a\\|b  ## Injected  [31m"
        );
    }
}
