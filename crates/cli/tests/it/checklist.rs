//! `preflight checklist …` end to end on a copy of the seed checklist.

use preflight_cli::Outcome;

use crate::preflight;

fn copy() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("production_build_checklist.md");
    std::fs::copy(
        "../../examples/mobius/docs/production_build_checklist.md",
        &path,
    )
    .unwrap();
    (dir, path.to_string_lossy().into_owned())
}

/// Replaces the temp dir in output with a fixed name.
fn filtered(text: &str, dir: &tempfile::TempDir) -> String {
    text.replace(&dir.path().to_string_lossy().into_owned(), "[TMP]")
}

#[test]
fn gate_lists_open_items_with_owners_then_passes() {
    let (dir, doc) = copy();
    let (outcome, out, _) = preflight(&["checklist", "gate", &doc, "--require", "3"]);
    assert_eq!(outcome, Outcome::NotOk);
    insta::assert_snapshot!(filtered(&out, &dir));
    for n in 1..=6 {
        let id = format!("3.{n}");
        let (outcome, out, err) = preflight(&[
            "checklist",
            "check",
            &id,
            "-f",
            &doc,
            "--by",
            "dba",
            "--evidence",
            "done",
        ]);
        assert_eq!(outcome, Outcome::Ok, "{out}{err}");
    }
    let (outcome, out, _) = preflight(&["checklist", "gate", &doc, "--require", "3"]);
    assert_eq!(outcome, Outcome::Ok, "{out}");
    assert_eq!(out, "gate 3: ok (6/6 checked)\n");
    let (outcome, json, _) = preflight(&[
        "--format",
        "json",
        "checklist",
        "gate",
        &doc,
        "--require",
        "1-5",
    ]);
    assert_eq!(outcome, Outcome::NotOk);
    let value = crate::json_result(&json);
    assert_eq!(value["open"].as_array().unwrap().len(), 18);
}

#[test]
fn sign_refuses_open_sections_and_approve_needs_everything() {
    let (_dir, doc) = copy();
    let (outcome, _, err) = preflight(&["checklist", "sign", "1", "-f", &doc, "--by", "os-lead"]);
    assert_eq!(outcome, Outcome::NotOk);
    assert!(
        err.starts_with("error: section `1` cannot be signed off: 10 item(s) open"),
        "{err}"
    );
    let (outcome, _, err) = preflight(&["checklist", "approve", "-f", &doc, "--by", "commander"]);
    assert_eq!(outcome, Outcome::NotOk);
    assert!(err.contains("33 item(s) open"), "{err}");
    let (outcome, _, err) = preflight(&["checklist", "check", "9.9", "-f", &doc, "--by", "x"]);
    assert_eq!(outcome, Outcome::CouldNotCheck);
    assert!(err.contains("no item `9.9`"), "{err}");
}

#[test]
fn show_render_and_archive() {
    let (dir, doc) = copy();
    let evidence = dir.path().join("out.txt");
    std::fs::write(&evidence, "collected 212 items\n212 passed in 9.1s\n").unwrap();
    let ev = evidence.to_string_lossy().into_owned();
    let (outcome, _, _) = preflight(&[
        "checklist",
        "check",
        "1.1",
        "-f",
        &doc,
        "--by",
        "os-lead",
        "--evidence-file",
        &ev,
    ]);
    assert_eq!(outcome, Outcome::Ok);
    let (_, out, _) = preflight(&["checklist", "show", &doc]);
    insta::assert_snapshot!(filtered(&out, &dir));
    // Every item, with who checked it and the evidence: for people (-v)…
    let (_, out, _) = preflight(&["checklist", "show", "-v", &doc]);
    let section_one: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.contains("[x] 1.1"))
        .take(4)
        .collect();
    assert!(
        section_one[0]
            .trim()
            .starts_with("[x] 1.1    Mobius OS backend lead: `cd mobius-os && git fetch"),
        "{out}"
    );
    assert!(
        section_one[1]
            .trim()
            .starts_with("checked by os-lead at 20"),
        "{out}"
    );
    assert_eq!(
        section_one[2].trim(),
        "evidence: output: 212 passed in 9.1s"
    );
    assert!(section_one[3].trim().starts_with("[ ] 1.2 "), "{out}");
    // …and for scripts, which find an item's id there.
    let (_, out, _) = preflight(&["--format", "json", "checklist", "show", &doc]);
    let json = crate::json_result(&out);
    let item = &json["sections"][0]["items"][0];
    assert_eq!(item["id"], "1.1");
    assert_eq!(item["checked"], true);
    assert_eq!(item["by"], "os-lead");
    assert_eq!(item["evidence"][0]["kind"], "output");
    assert_eq!(json["sections"][0]["items"][1]["checked"], false);
    let (_, rendered, _) = preflight(&["checklist", "render", &doc]);
    let line17 = rendered.lines().nth(16).unwrap();
    assert!(
        line17.starts_with("| [x] | Mobius OS backend lead |"),
        "{line17}"
    );
    assert!(line17.contains("output: 212 passed in 9.1s"), "{line17}");
    let logs = dir.path().join("logs").to_string_lossy().into_owned();
    let (outcome, out, _) = preflight(&[
        "checklist",
        "archive",
        &doc,
        "--release",
        "2026-02-14-prod",
        "--dir",
        &logs,
    ]);
    assert_eq!(outcome, Outcome::Ok);
    assert_eq!(
        filtered(&out, &dir),
        "archived [TMP]/logs/2026-02-14-prod/production_build_checklist.md\n"
    );
}

#[test]
fn invalid_documents_exit_2_with_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.md");
    std::fs::write(
        &path,
        "## 1. A\n\n| Check | Owner |\n| --- | --- |\n| yes | me |\n",
    )
    .unwrap();
    let (outcome, _, err) = preflight(&["checklist", "show", path.to_str().unwrap()]);
    assert_eq!(outcome, Outcome::CouldNotCheck);
    assert_eq!(
        filtered(&err, &dir),
        "error: [TMP]/bad.md:5: expected `[ ]` or `[x]` in the check column, found `yes`\n"
    );
    let (outcome, _, err) = preflight(&[
        "checklist",
        "gate",
        path.to_str().unwrap(),
        "--require",
        "x-y",
    ]);
    assert_eq!(outcome, Outcome::CouldNotCheck);
    assert!(err.contains("not a section range"), "{err}");
}

#[test]
fn example_bindings_name_real_items() {
    use preflight_checklist::{Binding, Run, StepRef, check_bindings};
    let config =
        preflight_manifest::PlatformConfig::load("../../examples/mobius/preflight.yaml".as_ref())
            .unwrap()
            .value
            .unwrap();
    let cl = config.checklist.clone().unwrap();
    let run = Run::open(&config.root().join(&cl.file), None).unwrap();
    let bindings: Vec<Binding> = cl
        .bindings
        .iter()
        .map(|b| Binding {
            item: b.item.clone(),
            step: match &b.step {
                preflight_manifest::BindingStep::Phase(p) => StepRef::Phase(p.as_str().to_string()),
                preflight_manifest::BindingStep::Probe(n) => StepRef::Probe(n.clone()),
                preflight_manifest::BindingStep::Migration(n) => StepRef::Migration(n.clone()),
                preflight_manifest::BindingStep::Gate(n) => StepRef::Gate(n.clone()),
            },
        })
        .collect();
    check_bindings(&run, &bindings).unwrap();
}

#[test]
fn verify_checks_a_log_against_its_archived_anchor() {
    let (dir, doc) = copy();
    let check = |id: &str| {
        let (outcome, _, err) = preflight(&[
            "checklist",
            "check",
            id,
            "-f",
            &doc,
            "--by",
            "dba",
            "--evidence",
            "done",
        ]);
        assert_eq!(outcome, Outcome::Ok, "{err}");
    };
    check("1.1");
    check("1.2");
    let logs = dir.path().join("logs").to_string_lossy().into_owned();
    let (outcome, _, _) = preflight(&[
        "checklist",
        "archive",
        &doc,
        "--release",
        "2026-02-14-prod",
        "--dir",
        &logs,
    ]);
    assert_eq!(outcome, Outcome::Ok);
    let archived = dir
        .path()
        .join("logs/2026-02-14-prod/production_build_checklist.md")
        .to_string_lossy()
        .into_owned();
    // Appending after the archive continues the anchored log.
    check("1.3");
    let (outcome, out, err) = preflight(&["checklist", "verify", &doc, "--archive", &archived]);
    assert_eq!(outcome, Outcome::Ok, "{err}");
    assert!(out.contains("continues the anchor (2 event(s)"), "{out}");

    // The last two lines removed: the chain alone looks fine, the anchor does not.
    let state = dir.path().join("production_build_checklist.state.jsonl");
    let text = std::fs::read_to_string(&state).unwrap();
    let first: String = text.lines().take(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(&state, first).unwrap();
    let (outcome, _, _) = preflight(&["checklist", "verify", &doc]);
    assert_eq!(outcome, Outcome::Ok, "an intact chain, without an anchor");
    let (outcome, _, err) = preflight(&["checklist", "verify", &doc, "--archive", &archived]);
    assert_eq!(outcome, Outcome::NotOk);
    assert!(err.contains("the last 1 were removed"), "{err}");
}

/// `preflight checklist gate … | head -1`: a closed pipe ends quietly (no
/// "error: Broken pipe"), and never as a pass.
#[test]
fn a_closed_pipe_ends_quietly_and_not_as_a_pass() {
    let doc = crate::example("docs/production_build_checklist.md");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args(["checklist", "show", &doc])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before anything is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert_ne!(out.status.code(), Some(0));
}
