//! Items bound to pipeline steps are checked, or keep the failing evidence, automatically.

use preflight_checklist::{
    Binding, Evidence, Run, StepOutcome, StepRef, apply_step, check_bindings, is_checked,
};

use crate::{at, temp_copy};

#[test]
fn a_passing_step_checks_its_items_and_a_failing_one_records_why() {
    let (_dir, doc) = temp_copy("production_build_checklist.md");
    let mut run = Run::open(&doc, None).unwrap();
    let bindings = vec![
        Binding {
            item: "3.6".into(),
            step: StepRef::Phase("backup".into()),
        },
        Binding {
            item: "3.4".into(),
            step: StepRef::Migration("mobius-chat".into()),
        },
        Binding {
            item: "6.8".into(),
            step: StepRef::Probe("chat-health".into()),
        },
    ];
    check_bindings(&run, &bindings).unwrap();
    let backup = StepOutcome {
        passed: true,
        evidence: vec![Evidence::Artifact(
            "file:///backups/mobius_chat.dump".into(),
        )],
    };
    let applied = apply_step(
        &mut run,
        &bindings,
        &StepRef::Phase("backup".into()),
        &backup,
        "preflight",
        at(0),
    )
    .unwrap();
    assert_eq!(applied.checked, ["3.6"]);
    let failed = StepOutcome {
        passed: false,
        evidence: vec![Evidence::output_tail("GET /health -> 503", 5)],
    };
    let applied = apply_step(
        &mut run,
        &bindings,
        &StepRef::Probe("chat-health".into()),
        &failed,
        "preflight",
        at(1),
    )
    .unwrap();
    assert_eq!(applied.left_open, ["6.8"]);
    let state = run.log.state();
    assert!(is_checked(run.checklist.item("3.6").unwrap(), &state));
    assert!(!is_checked(run.checklist.item("6.8").unwrap(), &state));
    assert_eq!(state.items["6.8"].evidence.len(), 1);
    let bad = vec![Binding {
        item: "9.1".into(),
        step: StepRef::Gate("x".into()),
    }];
    assert!(check_bindings(&run, &bad).is_err());
}
