//! `preflight checklist show | check | uncheck | sign | approve | gate | render | archive | verify`.

use anyhow::Context as _;
use jiff::Timestamp;
use preflight_checklist::{
    Anchor, Error, Evidence, GateResult, ItemProgress, Requirement, Run, SigningKey, archive,
    archived_anchor, gate, progress, render,
};

use super::write_new_file;
use crate::args::{ChecklistCommand, ChecklistFileArgs};
use crate::{Outcome, Output};

/// Lines of an evidence file kept as a command's output tail.
const EVIDENCE_TAIL_LINES: usize = 40;

pub(crate) fn run(command: ChecklistCommand, output: &mut Output<'_>) -> anyhow::Result<Outcome> {
    match command {
        ChecklistCommand::Show(args) => {
            let run = open(&args, output)?;
            let Some(run) = run else {
                return Ok(Outcome::CouldNotCheck);
            };
            let p = progress(&run.checklist, &run.log.state());
            if output.json() {
                output.print_json(&p)?;
            } else {
                writeln!(
                    output.out,
                    "{}: {}/{} checked",
                    run.checklist.path.display(),
                    p.checked,
                    p.total
                )?;
                for s in &p.sections {
                    let mark = if s.checked == s.total {
                        output.ok()
                    } else {
                        "  "
                    };
                    let signed = s
                        .signed_by
                        .as_ref()
                        .map(|b| format!(", signed off by {b}"))
                        .unwrap_or_default();
                    writeln!(
                        output.out,
                        "  {mark} {:<60} {}/{}{signed}",
                        s.title, s.checked, s.total
                    )?;
                    if output.verbose {
                        for item in &s.items {
                            write_item(output, item)?;
                        }
                    }
                }
                match &p.approved_by {
                    Some(by) => writeln!(output.out, "approved by {by}")?,
                    None => writeln!(output.out, "not approved")?,
                }
            }
            Ok(Outcome::Ok)
        }
        ChecklistCommand::Check(args) => {
            let evidence = match (&args.evidence, &args.evidence_file) {
                (Some(text), _) => vec![Evidence::from_text(text)],
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    vec![Evidence::output_tail(&text, EVIDENCE_TAIL_LINES)]
                }
                (None, None) => Vec::new(),
            };
            change(
                &args.target.file,
                args.target.state.as_deref(),
                output,
                |run| {
                    run.check(&args.id, &args.target.by, evidence, Timestamp::now())?;
                    Ok(format!("checked {} by {}", args.id, args.target.by))
                },
            )
        }
        ChecklistCommand::Uncheck(args) => change(
            &args.target.file,
            args.target.state.as_deref(),
            output,
            |run| {
                run.uncheck(&args.id, &args.target.by, &args.reason, Timestamp::now())?;
                Ok(format!("unchecked {} by {}", args.id, args.target.by))
            },
        ),
        ChecklistCommand::Sign(args) => change(
            &args.target.file,
            args.target.state.as_deref(),
            output,
            |run| {
                run.sign(&args.section, &args.target.by, Timestamp::now())?;
                Ok(format!(
                    "section {} signed off by {}",
                    args.section, args.target.by
                ))
            },
        ),
        ChecklistCommand::Approve(args) => change(
            &args.target.file,
            args.target.state.as_deref(),
            output,
            |run| {
                run.approve(&args.target.by, Timestamp::now())?;
                Ok(format!("approved by {}", args.target.by))
            },
        ),
        ChecklistCommand::Gate(args) => {
            let requirement = Requirement::parse(&args.require)?;
            let Some(run) = open(&args.checklist, output)? else {
                return Ok(Outcome::CouldNotCheck);
            };
            let result = match gate(&run.checklist, &run.log.state(), &requirement) {
                Ok(r) => r,
                Err(e @ Error::MissingSections { .. }) => {
                    writeln!(output.err, "error: {e}; the gate cannot be evaluated")?;
                    return Ok(Outcome::CouldNotCheck);
                }
                Err(e) => return Err(e.into()),
            };
            print_gate(output, &args.require, &result)?;
            Ok(if result.passed {
                Outcome::Ok
            } else {
                Outcome::NotOk
            })
        }
        ChecklistCommand::Render(args) => {
            let Some(run) = open(&args.checklist, output)? else {
                return Ok(Outcome::CouldNotCheck);
            };
            let text = render(&run.checklist, &run.log.state());
            match &args.output {
                Some(path) => write_new_file(path, &text, args.force)?,
                None => write!(output.out, "{text}")?,
            }
            Ok(Outcome::Ok)
        }
        ChecklistCommand::Archive(args) => {
            let Some(run) = open(&args.checklist, output)? else {
                return Ok(Outcome::CouldNotCheck);
            };
            let path = archive(&run.checklist, &run.log, &args.release, &args.dir)?;
            if output.json() {
                output.print_json(&serde_json::json!({ "archived": path }))?;
            } else if !output.quiet {
                writeln!(output.out, "archived {}", path.display())?;
            }
            Ok(Outcome::Ok)
        }
        ChecklistCommand::Verify(args) => {
            let anchor = match (&args.archive, args.events, &args.head) {
                (Some(path), _, _) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    match archived_anchor(&text) {
                        Some(a) => Some(a),
                        None => {
                            writeln!(
                                output.err,
                                "error: {} records no anchor (it was not archived by Preflight)",
                                path.display()
                            )?;
                            return Ok(Outcome::CouldNotCheck);
                        }
                    }
                }
                (None, Some(events), Some(head)) => Some(Anchor {
                    events,
                    head: head.clone(),
                }),
                _ => None,
            };
            // Opening checks the chain itself: a broken chain is a finding.
            let run = match Run::open_keyed(
                &args.checklist.file,
                args.checklist.state.as_deref(),
                signing_key()?,
            ) {
                Err(
                    e @ (Error::TamperedState { .. }
                    | Error::CorruptState { .. }
                    | Error::UnsignedState { .. }),
                ) => {
                    writeln!(output.err, "error: {e}")?;
                    return Ok(Outcome::NotOk);
                }
                _ => match open(&args.checklist, output)? {
                    Some(run) => run,
                    None => return Ok(Outcome::CouldNotCheck),
                },
            };
            if let Some(anchor) = &anchor
                && let Err(e) = run.log.verify(anchor)
            {
                writeln!(output.err, "error: {e}")?;
                return Ok(Outcome::NotOk);
            }
            let now = run.log.anchor();
            if output.json() {
                output.print_json(
                    &serde_json::json!({ "anchor": now, "verified_against": anchor }),
                )?;
            } else if !output.quiet {
                writeln!(
                    output.out,
                    "{}: chain intact, {now}",
                    run.log.path.display()
                )?;
                if let Some(a) = anchor {
                    writeln!(output.out, "continues the anchor ({a})")?;
                }
            }
            Ok(Outcome::Ok)
        }
    }
}

fn print_gate(output: &mut Output<'_>, require: &str, result: &GateResult) -> anyhow::Result<()> {
    if output.json() {
        output.print_json(result)?;
        return Ok(());
    }
    if result.passed {
        writeln!(
            output.out,
            "gate {require}: {} ({}/{} checked)",
            output.ok(),
            result.checked,
            result.total
        )?;
        return Ok(());
    }
    writeln!(
        output.out,
        "gate {require}: {} item(s) open ({}/{} checked)",
        result.open.len(),
        result.checked,
        result.total
    )?;
    for item in &result.open {
        let action: String = item.action.chars().take(80).collect();
        let owner = item.owner.as_deref().unwrap_or("(no owner)");
        writeln!(output.out, "  {:<6} {:<28} {action}", item.id, owner)?;
        if item.ticked_by_hand {
            writeln!(
                output.out,
                "         ticked in the document without a recorded check: `preflight checklist check {}` records one",
                item.id
            )?;
        }
    }
    Ok(())
}

/// Opens a checklist; an invalid document is shown line by line and means "could not check".
/// The team's state-log signing key, from `PREFLIGHT_CHECKLIST_KEY`: the
/// key itself, or `secret://projects/P/secrets/NAME` read through Secret
/// Manager. Called before any runtime of the command starts.
pub(crate) fn signing_key() -> anyhow::Result<Option<SigningKey>> {
    match std::env::var("PREFLIGHT_CHECKLIST_KEY") {
        Ok(text) if !text.is_empty() => {
            let key = super::runtime()?
                .block_on(preflight_release::checklist_signing_key(&text))
                .context("PREFLIGHT_CHECKLIST_KEY")?;
            Ok(Some(key))
        }
        _ => Ok(None),
    }
}

fn open(args: &ChecklistFileArgs, output: &mut Output<'_>) -> anyhow::Result<Option<Run>> {
    match Run::open_keyed(&args.file, args.state.as_deref(), signing_key()?) {
        Ok(run) => Ok(Some(run)),
        Err(Error::Invalid { path, problems }) => {
            for p in &problems {
                writeln!(
                    output.err,
                    "error: {}:{}: {}",
                    path.display(),
                    p.line,
                    p.message
                )?;
            }
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

fn change(
    file: &std::path::Path,
    state: Option<&std::path::Path>,
    output: &mut Output<'_>,
    apply: impl FnOnce(&mut Run) -> Result<String, Error>,
) -> anyhow::Result<Outcome> {
    let args = ChecklistFileArgs {
        file: file.to_path_buf(),
        state: state.map(std::path::Path::to_path_buf),
    };
    let Some(mut run) = open(&args, output)? else {
        return Ok(Outcome::CouldNotCheck);
    };
    match apply(&mut run) {
        Ok(message) => {
            if !output.quiet && !output.json() {
                writeln!(output.out, "{message}")?;
            }
            if output.json() {
                output.print_json(run.log.entries.last().expect("an entry was appended"))?;
            }
            Ok(Outcome::Ok)
        }
        // Refusals about the checklist's own state: what was checked is not OK.
        Err(e @ (Error::SectionOpen { .. } | Error::NotReady { .. })) => {
            writeln!(output.err, "error: {e}")?;
            Ok(Outcome::NotOk)
        }
        Err(e) => Err(e.into()),
    }
}

/// One item under its section for `show -v`: box, id, owner, action, then
/// who checked it and its evidence.
fn write_item(output: &mut Output<'_>, item: &ItemProgress) -> std::io::Result<()> {
    let mark = match (item.checked, item.ticked_by_hand) {
        (true, _) => "[x]",
        (false, true) => "[!]",
        (false, false) => "[ ]",
    };
    let owner = item.owner.as_deref().unwrap_or("-");
    writeln!(
        output.out,
        "       {mark} {:<6} {owner}: {}",
        item.id, item.action
    )?;
    if let (true, Some(by)) = (item.checked, &item.by) {
        let at = item.at.map(|t| format!(" at {t}")).unwrap_or_default();
        writeln!(output.out, "              checked by {by}{at}")?;
    }
    if item.ticked_by_hand {
        writeln!(
            output.out,
            "              ticked in the document, no recorded check"
        )?;
    }
    if let (false, Some(reason)) = (item.checked, &item.reason) {
        writeln!(output.out, "              unchecked: {reason}")?;
    }
    for evidence in &item.evidence {
        writeln!(output.out, "              evidence: {}", evidence.summary())?;
    }
    Ok(())
}
