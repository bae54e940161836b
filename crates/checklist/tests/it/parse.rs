//! Both seed checklists parse into the right sections and items; bad documents give line numbers.

use std::path::Path;

use preflight_checklist::{Checklist, Error, ItemKind};

use crate::load;

fn summary(c: &Checklist) -> String {
    let mut out = format!("title: {:?}\n", c.title);
    for s in &c.sections {
        out.push_str(&format!(
            "section {} (line {}): {}\n",
            s.id, s.line, s.title
        ));
        for i in c.items_in(&s.id) {
            out.push_str(&format!(
                "  {} line {} {:?} [{}] owner={:?} action={:?}\n",
                i.id,
                i.line,
                i.kind,
                if i.checked_in_source { "x" } else { " " },
                i.owner,
                i.action.chars().take(60).collect::<String>()
            ));
        }
    }
    out
}

#[test]
fn production_build_checklist() {
    let c = load("production_build_checklist.md");
    assert_eq!(c.items.len(), 10 + 8 + 6 + 9);
    assert_eq!(c.items_in("1").count(), 10);
    assert_eq!(c.items_in("3").count(), 6);
    assert_eq!(
        c.items_in("4").count(),
        0,
        "section 4 is a script, not a checklist"
    );
    assert_eq!(
        c.items_in("5").count(),
        0,
        "section 5's table has no check column"
    );
    let rollback = c.item("3.6").unwrap();
    assert_eq!(rollback.owner.as_deref(), Some("Rollback prep"));
    assert!(rollback.action.starts_with("Capture `pg_dump`"));
    assert_eq!(
        rollback.notes.as_deref(),
        Some("Store dumps in secure bucket.")
    );
    insta::assert_snapshot!(summary(&c));
}

#[test]
fn production_parity_checklist_task_list() {
    let c = load("production_parity_checklist.md");
    assert_eq!(c.items.len(), 8);
    assert!(
        c.items
            .iter()
            .all(|i| i.kind == ItemKind::Task && i.section == "5")
    );
    assert_eq!(c.items[7].id, "5.8");
    assert!(
        c.items[7]
            .action
            .starts_with("Verify POST /chat returns 200")
    );
    // `# 1. Start Cloud SQL Proxy` inside a code block is not a section.
    assert!(
        c.sections
            .iter()
            .all(|s| !s.title.contains("Cloud SQL Proxy"))
    );
    insta::assert_snapshot!(summary(&c));
}

#[test]
fn a_document_without_a_checklist_is_an_error() {
    let err = Checklist::parse(
        Path::new("dev_dry_run_playbook.md"),
        &std::fs::read_to_string(crate::fixture_path("dev_dry_run_playbook.md")).unwrap(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::NoChecklist { .. }), "{err}");
    insta::assert_snapshot!(err.to_string());
}

#[test]
fn malformed_tables_and_duplicate_ids_name_their_lines() {
    let doc = "\
# Doc

## 1. One

| Check | Owner | Action | Notes |
| --- | --- | --- | --- |
| [ ] | A | do a | |
| [ ] | B | do b |
| maybe | C | do c | |

## 1. One again

- [ ] task
";
    let err = Checklist::parse(Path::new("bad.md"), doc).unwrap_err();
    insta::assert_snapshot!(err.to_string());
    match err {
        Error::Invalid { problems, .. } => {
            let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
            assert_eq!(lines, [8, 9, 11]);
        }
        other => panic!("{other}"),
    }
}

#[test]
fn ids_survive_edits_in_other_sections() {
    let before = "## 1. A\n- [ ] a1\n- [ ] a2\n## 2. B\n- [ ] b1\n";
    let after = "## 1. A\n- [ ] a0 (new)\n- [ ] a1\n- [ ] a2\nSome prose.\n## 2. B\n- [ ] b1\n";
    let b1 = |doc: &str| {
        Checklist::parse(Path::new("d.md"), doc)
            .unwrap()
            .items
            .iter()
            .find(|i| i.action == "b1")
            .unwrap()
            .id
            .clone()
    };
    assert_eq!(b1(before), "2.1");
    assert_eq!(b1(after), "2.1");
}
