//! Rendering changes only the boxes, the notes and the appended sign-off.

use preflight_checklist::{Evidence, Run, archive, render};

use crate::{at, temp_copy};

#[test]
fn empty_state_reproduces_the_seeds_exactly() {
    for name in [
        "production_build_checklist.md",
        "production_parity_checklist.md",
    ] {
        let c = crate::load(name);
        assert_eq!(render(&c, &Default::default()), c.source, "{name}");
    }
}

#[test]
fn filled_build_checklist() {
    let (_dir, doc) = temp_copy("production_build_checklist.md");
    let mut run = Run::open(&doc, None).unwrap();
    run.check(
        "1.1",
        "os-lead",
        vec![Evidence::from_text("main clean | 3f2a9c1")],
        at(0),
    )
    .unwrap();
    run.check(
        "3.6",
        "preflight",
        vec![Evidence::Artifact(
            "gs://mobius-backups/2026-02-14-prod/mobius.dump".into(),
        )],
        at(3),
    )
    .unwrap();
    run.check(
        "1.2",
        "ext-lead",
        vec![Evidence::output_tail("build ok\nlint: 0 problems\n", 5)],
        at(4),
    )
    .unwrap();
    run.uncheck("1.2", "commander", "bundle not published", at(6))
        .unwrap();
    let rendered = render(&run.checklist, &run.log.state());
    let changed: Vec<(usize, &str)> = rendered
        .lines()
        .zip(run.checklist.source.lines())
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, _))| (i + 1, a))
        .collect();
    assert_eq!(
        changed.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        [17, 18, 56]
    );
    insta::assert_snapshot!(
        changed
            .iter()
            .map(|(l, t)| format!("{l}: {t}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn filled_task_list_with_signoff_and_approval() {
    let (_dir, doc) = temp_copy("production_parity_checklist.md");
    let mut run = Run::open(&doc, None).unwrap();
    for n in 1..=8 {
        let evidence = if n == 8 {
            vec![Evidence::from_text(
                "POST /chat 200; response polled in 2.1 s",
            )]
        } else {
            vec![]
        };
        run.check(&format!("5.{n}"), "chat-lead", evidence, at(n))
            .unwrap();
    }
    run.sign("5", "chat-lead", at(20)).unwrap();
    run.approve("release-commander", at(30)).unwrap();
    let rendered = render(&run.checklist, &run.log.state());
    let tail: String = rendered.lines().skip(166).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!(tail);
}

#[test]
fn archive_writes_once_under_the_release() {
    let (dir, doc) = temp_copy("production_parity_checklist.md");
    let mut run = Run::open(&doc, None).unwrap();
    run.check("5.1", "chat-lead", vec![], at(0)).unwrap();
    let logs = dir.path().join("docs/release_logs");
    let path = archive(&run.checklist, &run.log, "2026-02-14-prod", &logs).unwrap();
    assert_eq!(
        path,
        logs.join("2026-02-14-prod/production_parity_checklist.md")
    );
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("- [x] Run Chat migrations")
    );
    assert!(
        logs.join("2026-02-14-prod/production_parity_checklist.state.jsonl")
            .exists()
    );
    assert!(matches!(
        archive(&run.checklist, &run.log, "2026-02-14-prod", &logs),
        Err(preflight_checklist::Error::ArchiveExists { .. })
    ));
    assert!(matches!(
        archive(&run.checklist, &run.log, "../x", &logs),
        Err(preflight_checklist::Error::BadRelease { .. })
    ));
}
