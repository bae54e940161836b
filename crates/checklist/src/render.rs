//! Rendering a checklist with its state applied, and archiving it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::gate::{is_checked, ticked_by_hand};
use crate::model::{Checklist, ItemKind};
use crate::state::{State, StateLog};

/// The document with boxes ticked, evidence in the Notes column (tables) or
/// under the item (task lists) and sign-offs appended. Only those bytes
/// change; with an empty state the output is the input, byte for byte.
pub fn render(checklist: &Checklist, state: &State) -> String {
    let src = &checklist.source;
    let newline = if src.contains("\r\n") { "\r\n" } else { "\n" };
    // (offset, bytes replaced, replacement), applied back to front.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for item in &checklist.items {
        let checked = is_checked(item, state);
        let by_hand = ticked_by_hand(item, state);
        // A hand-ticked box stays as written (`gate` and `show` report it), so
        // an empty state renders the document byte for byte.
        if checked != item.checked_in_source && !by_hand {
            edits.push((
                item.mark.start,
                item.mark.len(),
                if checked { "x" } else { " " }.to_string(),
            ));
        }
        let Some(s) = state.items.get(&item.id) else {
            continue;
        };
        let labelled = item.kind == ItemKind::Task;
        let mut notes: Vec<String> = s
            .evidence
            .iter()
            .map(|e| {
                if labelled {
                    format!("evidence: {}", e.summary())
                } else {
                    e.summary()
                }
            })
            .collect();
        if let (Some(by), Some(at)) = (&s.by, &s.at) {
            let verb = if s.checked == Some(true) {
                "checked"
            } else {
                "unchecked"
            };
            let reason = s
                .reason
                .as_deref()
                .filter(|_| s.checked == Some(false))
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            notes.push(format!(
                "{verb} by {by} at {}{reason}",
                at.strftime("%Y-%m-%d %H:%M UTC")
            ));
        }
        if notes.is_empty() {
            continue;
        }
        match (item.kind, &item.notes_span) {
            (ItemKind::TableRow, Some(span)) => {
                let cell = notes
                    .iter()
                    .map(|n| escape_cell(n))
                    .collect::<Vec<_>>()
                    .join("<br>");
                let text = if span.is_empty() {
                    cell
                } else {
                    format!("<br>{cell}")
                };
                edits.push((span.end, 0, text));
            }
            (ItemKind::TableRow, None) => {
                // No Notes column: a line after the table row would break the table; append to the action cell instead.
                let line_end = item.end;
                let line = &src[..line_end];
                let last_bar = line.rfind('|').unwrap_or(line_end);
                let cell = notes
                    .iter()
                    .map(|n| escape_cell(n))
                    .collect::<Vec<_>>()
                    .join("<br>");
                edits.push((last_bar, 0, format!(" <br>{cell} ")));
            }
            (ItemKind::Task, _) => {
                let mut block = String::new();
                let at_eof_without_newline = item.end == src.len() && !src.ends_with('\n');
                if at_eof_without_newline {
                    block.push_str(newline);
                }
                for n in &notes {
                    let _ = write!(block, "{}- {}{newline}", item.indent, inline(n));
                }
                edits.push((item.end, 0, block));
            }
        }
    }
    edits.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut out = src.clone();
    for (at, len, text) in edits {
        out.replace_range(at..at + len, &text);
    }
    if !state.signoffs.is_empty() || state.approval.is_some() {
        if !out.ends_with('\n') {
            out.push_str(newline);
        }
        let _ = write!(
            out,
            "{newline}## Sign-off (recorded by Preflight){newline}{newline}| Section | Signed off by | At |{newline}| --- | --- | --- |{newline}"
        );
        for section in &checklist.sections {
            if let Some(s) = state.signoffs.get(&section.id) {
                let _ = write!(
                    out,
                    "| {} | {} | {} |{newline}",
                    escape_cell(&section.title),
                    escape_cell(&s.by),
                    s.at.strftime("%Y-%m-%d %H:%M UTC")
                );
            }
        }
        if let Some(s) = state.signoffs.get("doc") {
            let _ = write!(
                out,
                "| (document) | {} | {} |{newline}",
                escape_cell(&s.by),
                s.at.strftime("%Y-%m-%d %H:%M UTC")
            );
        }
        if let Some(a) = &state.approval {
            let _ = write!(
                out,
                "{newline}Approved by release commander **{}** at {}.{newline}",
                inline(&a.by).replace('*', "\\*"),
                a.at.strftime("%Y-%m-%d %H:%M UTC")
            );
        }
    }
    out
}

fn escape_cell(text: &str) -> String {
    inline(text).replace('|', "\\|")
}

/// One line: every control character (newline, carriage return, escape…)
/// becomes a space, so no recorded value can start a line of its own.
fn inline(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The anchor an archived document records in its last line, if it has one.
pub fn archived_anchor(document: &str) -> Option<crate::state::Anchor> {
    let line = document.lines().rev().find(|l| !l.trim().is_empty())?;
    let rest = line
        .trim()
        .strip_prefix("<!-- preflight checklist anchor: ")?
        .strip_suffix(" -->")?;
    let (events, head) = rest.split_once(' ')?;
    Some(crate::state::Anchor {
        events: events.parse().ok()?,
        head: head.to_string(),
    })
}

/// Writes the filled document and a copy of its log to
/// `<dir>/<release_id>/<document file name>`, as the checklist's last step
/// asks. Never overwrites an existing archive.
pub fn archive(
    checklist: &Checklist,
    log: &StateLog,
    release_id: &str,
    dir: &Path,
) -> Result<PathBuf, Error> {
    let date_ok = release_id.len() >= 10
        && release_id
            .get(..10)
            .and_then(|d| d.parse::<jiff::civil::Date>().ok())
            .is_some();
    if !date_ok || release_id.contains(['/', '\\']) || release_id.contains("..") {
        return Err(Error::BadRelease {
            release: release_id.to_string(),
        });
    }
    let folder = dir.join(release_id);
    let name = checklist
        .path
        .file_name()
        .map_or_else(|| "checklist.md".into(), |n| n.to_os_string());
    let target = folder.join(&name);
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Write { path, source }
    };
    std::fs::create_dir_all(&folder).map_err(write_err(&folder))?;
    let mut rendered = render(checklist, &log.state());
    // Where the log stood when archived: `checklist verify` compares a log with it.
    let anchor = log.anchor();
    let _ = writeln!(
        rendered,
        "{}<!-- preflight checklist anchor: {} {} -->",
        if rendered.ends_with('\n') {
            "\n"
        } else {
            "\n\n"
        },
        anchor.events,
        anchor.head
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                Error::ArchiveExists {
                    path: target.clone(),
                }
            } else {
                Error::Write {
                    path: target.clone(),
                    source,
                }
            }
        })?;
    std::io::Write::write_all(&mut file, rendered.as_bytes()).map_err(write_err(&target))?;
    if log.path.exists() {
        let log_target = folder.join(log.path.file_name().unwrap_or_default());
        std::fs::copy(&log.path, &log_target).map_err(write_err(&log_target))?;
    }
    Ok(target)
}
