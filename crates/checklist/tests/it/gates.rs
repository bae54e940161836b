//! Gates list each open item with its owner and fail closed on unknown sections.

use preflight_checklist::{Error, Requirement, Run, gate};

use crate::{at, load, temp_copy};

#[test]
fn sections_one_to_five_gate() {
    let (_dir, doc) = temp_copy("production_build_checklist.md");
    let mut run = Run::open(&doc, None).unwrap();
    let req = Requirement::parse("1-5").unwrap();
    let result = gate(&run.checklist, &run.log.state(), &req).unwrap();
    assert!(!result.passed);
    assert_eq!((result.checked, result.total), (0, 24));
    for item in run
        .checklist
        .items
        .clone()
        .iter()
        .filter(|i| ["1", "2", "3"].contains(&i.section.as_str()))
    {
        if item.id != "3.6" {
            run.check(&item.id, "owner", vec![], at(1)).unwrap();
        }
    }
    let result = gate(&run.checklist, &run.log.state(), &req).unwrap();
    assert!(!result.passed);
    assert_eq!(result.open.len(), 1);
    assert_eq!(result.open[0].id, "3.6");
    assert_eq!(result.open[0].owner.as_deref(), Some("Rollback prep"));
    run.check("3.6", "dba", vec![], at(2)).unwrap();
    assert!(gate(&run.checklist, &run.log.state(), &req).unwrap().passed);
    // Section 6 is still open, so "all" is not.
    let all = gate(&run.checklist, &run.log.state(), &Requirement::All).unwrap();
    assert_eq!(all.open.len(), 9);
}

#[test]
fn requirements_parse_and_unknown_sections_fail_closed() {
    assert_eq!(Requirement::parse("all").unwrap(), Requirement::All);
    assert_eq!(
        Requirement::parse("1-3,5").unwrap(),
        Requirement::Sections(vec![1, 2, 3, 5])
    );
    assert!(Requirement::parse("5-1").is_err());
    assert!(Requirement::parse("one").is_err());
    let c = load("production_parity_checklist.md");
    let err = gate(&c, &Default::default(), &Requirement::parse("5-9").unwrap()).unwrap_err();
    assert!(
        matches!(&err, Error::MissingSections { missing } if missing == &["6", "7", "8", "9"]),
        "{err}"
    );
}

#[test]
fn a_box_ticked_by_hand_is_reported_and_does_not_open_a_gate() {
    let doc = "## 1. A\n\n- [x] done already\n- [ ] open\n";
    let c = preflight_checklist::Checklist::parse("d.md".as_ref(), doc).unwrap();
    let result = gate(&c, &Default::default(), &Requirement::All).unwrap();
    assert!(!result.passed);
    let open: Vec<(&str, bool)> = result
        .open
        .iter()
        .map(|o| (o.id.as_str(), o.ticked_by_hand))
        .collect();
    assert_eq!(open, [("1.1", true), ("1.2", false)]);
}

#[test]
fn a_parent_task_with_a_checked_sub_task_still_counts() {
    let doc = "## 1. Deploy\n\n- [ ] Run production migrations\n  - [x] dry-run in staging\n";
    let c = preflight_checklist::Checklist::parse("d.md".as_ref(), doc).unwrap();
    assert_eq!(c.items.len(), 2, "{:#?}", c.items);
    let result = gate(&c, &Default::default(), &Requirement::All).unwrap();
    assert_eq!(result.total, 2);
    assert_eq!(result.checked, 0);
    assert_eq!(result.open[0].action, "Run production migrations");
}

#[test]
fn a_non_ascii_mark_in_a_table_is_an_error_not_a_panic() {
    let doc = "## 1. A\n\n| Check | Owner | Action |\n| --- | --- | --- |\n| [✓] | me | do it |\n";
    let err = preflight_checklist::Checklist::parse("d.md".as_ref(), doc).unwrap_err();
    assert!(err.to_string().contains("line 5"), "{err}");
}
