//! The release log as one self-contained HTML page, for the people who sign
//! off on a release: the outcome first, a timeline of phases drawn to
//! scale, each phase's steps with their evidence folded, the manifest diff
//! and the checklist's state. No script, no external resource; every value
//! is escaped (evidence is command output and may hold markup).

use std::fmt::Write as _;

use super::record::{ChecklistState, PhaseRecord, PhaseStatus, ReleaseLog, ReleaseStatus};
use preflight_verify::Severity;

const STYLE: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
main{max-width:1100px;margin:0 auto;padding:24px}
header{border-radius:8px;padding:16px 20px;margin-bottom:20px;color:#fff}
header h1{margin:0 0 4px;font-size:22px}
header .outcome{font-size:18px;font-weight:600;margin:0 0 8px}
header dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0;font-size:13px}
header dt{opacity:.8}header dd{margin:0}
.release-succeeded{background:#1a7f37}.release-failed{background:#cf222e}
.release-running{background:#9a6700}.release-dry-run{background:#57606a}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:14px 18px;margin-bottom:16px}
h2{font-size:17px;margin:0 0 10px}
.timeline .row{display:grid;grid-template-columns:110px 1fr 90px;align-items:center;gap:10px;margin:3px 0;font-size:13px}
.timeline .track{position:relative;height:16px;background:#eaeef2;border-radius:3px}
.timeline .bar{position:absolute;top:0;bottom:0;border-radius:3px;min-width:3px}
.timeline .dur{text-align:right;color:#57606a}
.passed{background:#2da44e}.warned{background:#bf8700}.failed{background:#cf222e}
.skipped,.not-run{background:#afb8c1}.skipped-by-operator{background:#fb8f44}.interrupted{background:#8250df}.rolled-back{background:#9a6700}
.badge{display:inline-block;padding:0 7px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
details.phase{border-top:1px solid #d0d7de;padding:6px 0}
details.phase>summary{cursor:pointer;font-weight:600}
table{border-collapse:collapse;width:100%;margin:6px 0;font-size:13px}
th,td{text-align:left;padding:4px 6px;border-bottom:1px solid #eaeef2;vertical-align:top}
pre{background:#f6f8fa;border:1px solid #eaeef2;border-radius:6px;padding:8px;overflow:auto;font-size:12px;white-space:pre-wrap}
.muted{color:#57606a}
";

/// Escapes text for HTML element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn status_class(status: PhaseStatus) -> &'static str {
    match status {
        PhaseStatus::Passed => "passed",
        PhaseStatus::Warned => "warned",
        PhaseStatus::Failed => "failed",
        PhaseStatus::Skipped => "skipped",
        PhaseStatus::NotRun => "not-run",
        PhaseStatus::SkippedByOperator => "skipped-by-operator",
        PhaseStatus::Interrupted => "interrupted",
        PhaseStatus::RolledBack => "rolled-back",
    }
}

fn human(d: std::time::Duration) -> String {
    super::record::human(d)
}

impl ReleaseLog {
    /// The release log as one self-contained HTML page.
    pub fn to_html(&self) -> String {
        let mut out = String::new();
        let (class, outcome) = match self.status {
            ReleaseStatus::Succeeded => ("release-succeeded", "✅ Succeeded".to_string()),
            ReleaseStatus::Failed => (
                "release-failed",
                format!(
                    "❌ Failed at {}",
                    self.failed_phase.map_or("?", |p| p.as_str())
                ),
            ),
            ReleaseStatus::Running => ("release-running", "⏳ Running or partial".to_string()),
            ReleaseStatus::DryRun => ("release-dry-run", "Dry run: nothing changed".to_string()),
        };
        let title = format!("Release {} → {}", self.release_id, self.env);
        let _ = write!(
            out,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{} — {}</title><style>{STYLE}</style></head>\n<body><main>\n",
            esc(&title),
            esc(&outcome)
        );
        let _ = write!(
            out,
            "<header class=\"{class}\" id=\"outcome\"><h1>{}</h1><p class=\"outcome\">{}</p><dl>",
            esc(&title),
            esc(&outcome)
        );
        let total = self
            .finished_at
            .map(|f| f.duration_since(self.started_at).unsigned_abs())
            .unwrap_or_default();
        let mut facts: Vec<(&str, String)> = vec![
            ("Platform", self.platform.clone()),
            ("Run by", self.operator.clone()),
            ("Attempt", self.attempt.to_string()),
            ("Started", self.started_at.to_string()),
        ];
        if let Some(f) = self.finished_at {
            facts.push(("Finished", format!("{f} ({})", human(total))));
        }
        facts.push((
            "Manifest",
            format!(
                "{} (sha256 {})",
                self.manifest,
                &self.manifest_sha256[..12.min(self.manifest_sha256.len())]
            ),
        ));
        if let Some(next) = &self.next_step {
            facts.push(("Next", next.clone()));
        }
        for (k, v) in facts {
            let _ = write!(out, "<dt>{k}</dt><dd>{}</dd>", esc(&v));
        }
        out.push_str("</dl></header>\n");
        self.timeline(&mut out);
        self.phase_details(&mut out);
        if let Some(diff) = &self.diff {
            let _ = writeln!(
                out,
                "<section id=\"diff\"><h2>Changes since the previous release</h2><pre>{}</pre></section>",
                esc(diff.trim_end())
            );
        }
        if !self.playbook.is_empty() {
            out.push_str("<section id=\"playbook\"><h2>Rollback playbook</h2><ul>");
            for line in &self.playbook {
                let _ = write!(out, "<li>{}</li>", esc(line));
            }
            out.push_str("</ul></section>\n");
        }
        checklist(
            &mut out,
            self.checklist.as_ref(),
            self.checklist_archive.as_deref(),
        );
        let mut footer = Vec::new();
        if let Some(n) = &self.notified {
            footer.push(format!("Notification: {}", esc(n)));
        }
        for u in &self.uploaded_to {
            footer.push(format!("Uploaded: {}", esc(u)));
        }
        if !footer.is_empty() {
            let _ = writeln!(
                out,
                "<section id=\"record\"><h2>Record</h2><p class=\"muted\">{}</p></section>",
                footer.join("<br>")
            );
        }
        out.push_str("</main></body></html>\n");
        out
    }

    /// Each phase as a bar placed and sized by when it ran and how long it
    /// took, on the release's own time scale.
    fn timeline(&self, out: &mut String) {
        let start = self.started_at;
        let end_of = |p: &PhaseRecord| {
            p.started_at
                .map(|s| s.duration_since(start).as_secs_f64().max(0.0) + p.duration.as_secs_f64())
        };
        let span = self
            .phases
            .iter()
            .filter_map(end_of)
            .fold(0.0_f64, f64::max)
            .max(0.001);
        out.push_str("<section id=\"timeline\"><h2>Timeline</h2><div class=\"timeline\">\n");
        for p in &self.phases {
            let class = status_class(p.status);
            let bar = match p.started_at {
                Some(s) => {
                    let left = s.duration_since(start).as_secs_f64().max(0.0) / span * 100.0;
                    let width = p.duration.as_secs_f64() / span * 100.0;
                    format!(
                        "<div class=\"bar {class}\" data-phase=\"{}\" style=\"left:{left:.3}%;width:{width:.3}%\" title=\"{}: {}\"></div>",
                        p.phase.as_str(),
                        p.phase.as_str(),
                        esc(p.status.as_str())
                    )
                }
                None => String::new(),
            };
            let duration = if p.started_at.is_some() {
                human(p.duration)
            } else {
                p.status.as_str().to_string()
            };
            let _ = writeln!(
                out,
                "<div class=\"row\"><span class=\"label\">{}</span><div class=\"track\">{bar}</div><span class=\"dur\">{}</span></div>",
                p.phase.as_str(),
                esc(&duration)
            );
        }
        out.push_str("</div></section>\n");
    }

    /// Each phase that did something, its steps in a table and each step's
    /// evidence folded; a failed or warned phase is open.
    fn phase_details(&self, out: &mut String) {
        out.push_str("<section id=\"phases\"><h2>Phases</h2>\n");
        for p in &self.phases {
            // What needs a reader's eyes is open: failures and warnings.
            let open = matches!(
                p.status,
                PhaseStatus::Failed
                    | PhaseStatus::Interrupted
                    | PhaseStatus::Warned
                    | PhaseStatus::RolledBack
            );
            let _ = writeln!(
                out,
                "<details class=\"phase\" id=\"phase-{}\"{}><summary><span class=\"badge {}\">{}</span> {} <span class=\"muted\">{}</span></summary>",
                p.phase.as_str(),
                if open { " open" } else { "" },
                status_class(p.status),
                esc(p.status.as_str()),
                p.phase.as_str(),
                esc(&p.summary)
            );
            if let Some(d) = &p.decision {
                let _ = writeln!(
                    out,
                    "<p>Skipped by <b>{}</b> at {}: {}</p>",
                    esc(&d.by),
                    d.at,
                    esc(&d.reason)
                );
            }
            if let Some(a) = p.carried_from {
                let _ = writeln!(out, "<p class=\"muted\">Passed in attempt {a}.</p>");
            }
            if !p.steps.is_empty() {
                out.push_str("<table><thead><tr><th>step</th><th>outcome</th><th>time</th><th>summary</th></tr></thead><tbody>\n");
                for s in &p.steps {
                    let outcome = match (s.passed(), s.severity) {
                        (true, _) => "passed".to_string(),
                        (false, Severity::Soft) => format!("{} (soft)", s.outcome.as_str()),
                        (false, Severity::Hard) => s.outcome.as_str().to_string(),
                    };
                    let evidence = if s.evidence.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "<details class=\"evidence\"><summary>evidence</summary><pre>{}</pre></details>",
                            esc(&s.evidence.join("\n"))
                        )
                    };
                    let _ = writeln!(
                        out,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}{evidence}</td></tr>",
                        esc(&s.name),
                        esc(&outcome),
                        human(s.duration),
                        esc(&s.summary)
                    );
                }
                out.push_str("</tbody></table>\n");
            }
            out.push_str("</details>\n");
        }
        out.push_str("</section>\n");
    }
}

fn checklist(out: &mut String, state: Option<&ChecklistState>, archive: Option<&str>) {
    let Some(state) = state else {
        return;
    };
    let _ = writeln!(
        out,
        "<section id=\"checklist\"><h2>Checklist{}</h2><p>{} of {} items checked; {}</p>",
        state
            .title
            .as_deref()
            .map(|t| format!(": {}", esc(t)))
            .unwrap_or_default(),
        state.checked,
        state.total,
        match &state.approved_by {
            Some(by) => format!("approved by <b>{}</b>", esc(by)),
            None => "not approved".to_string(),
        }
    );
    out.push_str("<table><thead><tr><th>section</th><th>checked</th><th>signed off by</th></tr></thead><tbody>\n");
    for s in &state.sections {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}/{}</td><td>{}</td></tr>",
            esc(&s.title),
            s.checked,
            s.total,
            s.signed_by.as_deref().map(esc).unwrap_or_default()
        );
    }
    out.push_str("</tbody></table>\n");
    if let Some(a) = archive {
        let _ = writeln!(out, "<p class=\"muted\">Archived: {}</p>", esc(a));
    }
    out.push_str("</section>\n");
}
