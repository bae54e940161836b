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

    /// JUnit XML: one test case per probe. A hard failure is a `<failure>`
    /// (an error when the probe could not tell); a soft failure passes with
    /// the failure in `<system-err>` and a `severity=soft` property, so CI
    /// shows it without turning red on a run that did not block.
    pub fn to_junit(&self, suite: &str) -> String {
        junit(&[JunitSuite::Ran {
            name: suite,
            report: self,
        }])
    }

    /// Pretty JSON of the whole report.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }
}

/// One `<testsuite>` of a JUnit document.
#[derive(Debug, Clone, Copy)]
pub enum JunitSuite<'a> {
    /// A report's probes, one case each.
    Ran {
        /// The suite's name.
        name: &'a str,
        /// What ran.
        report: &'a Report,
    },
    /// A suite that did not run (a release phase skipped, or not reached):
    /// one skipped case saying why.
    Skipped {
        /// The suite's name.
        name: &'a str,
        /// Why it did not run.
        reason: &'a str,
    },
}

/// A JUnit XML document with one `<testsuite>` per entry (a release writes
/// one per phase), written by quick-junit.
pub fn junit(suites: &[JunitSuite<'_>]) -> String {
    use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
    let mut doc = quick_junit::Report::new("preflight");
    for suite in suites {
        match *suite {
            JunitSuite::Ran { name, report } => {
                let mut ts = TestSuite::new(name);
                ts.set_time(report.duration);
                if let Some(at) = chrono_time(report.started_at) {
                    ts.set_timestamp(at);
                }
                for r in &report.results {
                    let evidence = r.evidence.join("\n");
                    let failed = !r.outcome.passed();
                    let status = match (failed, r.severity) {
                        (false, _) | (true, Severity::Soft) => TestCaseStatus::success(),
                        (true, Severity::Hard) => {
                            let kind = match r.outcome {
                                Outcome::Errored | Outcome::Cancelled => NonSuccessKind::Error,
                                _ => NonSuccessKind::Failure,
                            };
                            let mut status = TestCaseStatus::non_success(kind);
                            status
                                .set_type(r.outcome.as_str())
                                .set_message(r.summary.as_str());
                            if !evidence.is_empty() {
                                status.set_description(evidence.as_str());
                            }
                            status
                        }
                    };
                    let mut case = TestCase::new(r.name.as_str(), status);
                    case.set_classname(format!("{name}.{}", r.kind))
                        .set_time(r.duration)
                        .add_property(Property::new("severity", severity_str(r.severity)))
                        .add_property(Property::new("outcome", r.outcome.as_str()));
                    if failed && r.severity == Severity::Soft {
                        let mut text = format!("soft failure, does not block: {}", r.summary);
                        if !evidence.is_empty() {
                            text.push('\n');
                            text.push_str(&evidence);
                        }
                        case.set_system_err(text);
                    } else if !failed && !evidence.is_empty() {
                        case.set_system_out(evidence.as_str());
                    }
                    ts.add_test_case(case);
                }
                doc.add_test_suite(ts);
            }
            JunitSuite::Skipped { name, reason } => {
                let mut ts = TestSuite::new(name);
                let mut status = TestCaseStatus::skipped();
                status.set_message(reason);
                let mut case = TestCase::new(name, status);
                case.set_classname(name);
                ts.add_test_case(case);
                doc.add_test_suite(ts);
            }
        }
    }
    doc.set_time(
        suites
            .iter()
            .map(|s| match s {
                JunitSuite::Ran { report, .. } => report.duration,
                JunitSuite::Skipped { .. } => Duration::ZERO,
            })
            .sum(),
    );
    // Serialising owned strings into memory cannot fail.
    doc.to_string().unwrap_or_default()
}

/// A timestamp as quick-junit takes it (chrono, UTC).
fn chrono_time(at: jiff::Timestamp) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::from_timestamp(at.as_second(), at.subsec_nanosecond().try_into().ok()?)
        .map(|t| t.fixed_offset())
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
