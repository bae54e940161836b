//! The audit log is append-only and tamper-evident; the state is its replay.

use preflight_checklist::{Error, Event, Evidence, Run, StateLog};

use crate::{at, temp_copy};

#[test]
fn every_change_appends_and_earlier_bytes_never_change() {
    let (_dir, doc) = temp_copy("production_build_checklist.md");
    let mut run = Run::open(&doc, None).unwrap();
    run.check(
        "1.1",
        "alice",
        vec![Evidence::from_text("main is clean at 3f2a9c1")],
        at(0),
    )
    .unwrap();
    let log_path = StateLog::default_path(&doc);
    let after_one = std::fs::read(&log_path).unwrap();
    run.uncheck("1.1", "bob", "a late PR merged", at(5))
        .unwrap();
    run.check(
        "1.1",
        "alice",
        vec![Evidence::from_text("https://git.example/pr/42")],
        at(9),
    )
    .unwrap();
    let after_three = std::fs::read(&log_path).unwrap();
    assert!(
        after_three.starts_with(&after_one),
        "the log is only ever appended to"
    );
    assert_eq!(String::from_utf8(after_three).unwrap().lines().count(), 3);

    let reloaded = StateLog::load(&log_path).unwrap();
    assert_eq!(reloaded.entries.len(), 3);
    assert!(matches!(reloaded.entries[1].event, Event::Uncheck { .. }));
    let state = reloaded.state();
    let item = &state.items["1.1"];
    assert_eq!(item.checked, Some(true));
    assert_eq!(item.by.as_deref(), Some("alice"));
    assert_eq!(
        item.evidence,
        [
            Evidence::Text("main is clean at 3f2a9c1".into()),
            Evidence::Link("https://git.example/pr/42".into())
        ]
    );
}

#[test]
fn an_edited_log_is_refused() {
    let (_dir, doc) = temp_copy("production_build_checklist.md");
    let mut run = Run::open(&doc, None).unwrap();
    run.check("1.1", "alice", vec![], at(0)).unwrap();
    run.check("1.2", "alice", vec![], at(1)).unwrap();
    let path = StateLog::default_path(&doc);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"alice\"", "\"mallory\"")).unwrap();
    match StateLog::load(&path).unwrap_err() {
        Error::TamperedState { line, .. } => assert_eq!(line, 2),
        other => panic!("{other}"),
    }
    // Dropping a line is caught too.
    let first_removed: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, first_removed).unwrap();
    assert!(matches!(
        StateLog::load(&path).unwrap_err(),
        Error::TamperedState { line: 1, .. }
    ));
    std::fs::write(&path, "not json\n").unwrap();
    assert!(matches!(
        StateLog::load(&path).unwrap_err(),
        Error::CorruptState { line: 1, .. }
    ));
}

#[test]
fn unknown_items_sections_and_empty_names_are_refused() {
    let (_dir, doc) = temp_copy("production_build_checklist.md");
    let mut run = Run::open(&doc, None).unwrap();
    assert!(matches!(
        run.check("9.9", "alice", vec![], at(0)),
        Err(Error::UnknownItem { .. })
    ));
    assert!(matches!(
        run.check("1.1", "  ", vec![], at(0)),
        Err(Error::NoSigner)
    ));
    assert!(matches!(
        run.sign("42", "alice", at(0)),
        Err(Error::UnknownSection { .. })
    ));
    assert!(
        !StateLog::default_path(&doc).exists(),
        "nothing was written"
    );
}

#[test]
fn sign_off_needs_a_complete_section_and_approval_needs_everything() {
    let (_dir, doc) = temp_copy("production_parity_checklist.md");
    let mut run = Run::open(&doc, None).unwrap();
    let err = run.sign("5", "chat-lead", at(0)).unwrap_err();
    insta::assert_snapshot!("sign_open", err.to_string());
    for n in 1..=8 {
        run.check(&format!("5.{n}"), "chat-lead", vec![], at(n))
            .unwrap();
    }
    let err = run.approve("commander", at(10)).unwrap_err();
    insta::assert_snapshot!("approve_unsigned", err.to_string());
    run.sign("5", "chat-lead", at(11)).unwrap();
    run.approve("commander", at(12)).unwrap();
    let state = run.log.state();
    assert_eq!(state.approval.unwrap().by, "commander");
    assert_eq!(state.signoffs["5"].by, "chat-lead");
}

#[test]
fn output_tail_keeps_the_last_lines() {
    let out = (1..=100)
        .map(|i| format!("line {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        Evidence::output_tail(&out, 2),
        Evidence::Output("line 99\nline 100".into())
    );
    assert_eq!(
        Evidence::from_text("gs://b/dump"),
        Evidence::Artifact("gs://b/dump".into())
    );
}

#[test]
fn ten_concurrent_writers_give_ten_events_and_an_intact_chain() {
    let (_dir, doc) = temp_copy("production_build_checklist.md");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(10));
    let handles: Vec<_> = (0..10)
        .map(|n| {
            let doc = doc.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                // Each writer read the log before any of them wrote.
                let mut run = Run::open(&doc, None).unwrap();
                barrier.wait();
                run.check("1.1", &format!("writer-{n}"), vec![], at(n))
                    .unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let log = StateLog::load(&StateLog::default_path(&doc)).unwrap();
    assert_eq!(log.entries.len(), 10);
    let mut writers: Vec<&str> = log.entries.iter().map(|e| e.by.as_str()).collect();
    writers.sort();
    writers.dedup();
    assert_eq!(writers.len(), 10);
}

#[test]
fn a_log_without_its_final_newline_is_refused_before_appending() {
    let (_dir, doc) = temp_copy("production_build_checklist.md");
    let mut run = Run::open(&doc, None).unwrap();
    run.check("1.1", "alice", vec![], at(0)).unwrap();
    let path = StateLog::default_path(&doc);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.trim_end()).unwrap();
    let mut run = Run::open(&doc, None).unwrap();
    let err = run.check("1.2", "alice", vec![], at(1)).unwrap_err();
    assert!(
        matches!(err, Error::UnterminatedState { line: 1, .. }),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text.trim_end(),
        "nothing was appended"
    );
}

#[test]
fn a_name_with_a_newline_cannot_write_into_the_document() {
    let (_dir, doc) = temp_copy("production_build_checklist.md");
    let mut run = Run::open(&doc, None).unwrap();
    let err = run
        .check("1.1", "alice\n\n## 2. Injected", vec![], at(0))
        .unwrap_err();
    assert!(matches!(err, Error::NotOneLine { .. }), "{err}");
    assert!(matches!(
        run.uncheck("1.1", "alice", "why\n| [x] | forged |", at(0)),
        Err(Error::NotOneLine { .. })
    ));
    // Evidence may hold several lines; rendered, it stays on its own line.
    run.check(
        "1.1",
        "alice",
        vec![Evidence::Text("ok\n\n## 9. Injected".into())],
        at(0),
    )
    .unwrap();
    let rendered = preflight_checklist::render(&run.checklist, &run.log.state());
    assert!(!rendered.contains("\n## 9. Injected"), "{rendered}");
}

#[test]
fn an_anchor_catches_a_cut_or_rewritten_log_and_accepts_appends() {
    let (_dir, doc) = temp_copy("production_build_checklist.md");
    let mut run = Run::open(&doc, None).unwrap();
    run.check("1.1", "alice", vec![], at(0)).unwrap();
    run.check("1.2", "alice", vec![], at(1)).unwrap();
    let anchor = run.log.anchor();
    assert_eq!(anchor.events, 2);
    run.check("1.3", "bob", vec![], at(2)).unwrap();
    let path = StateLog::default_path(&doc);
    // Appending continues the anchored log.
    StateLog::load(&path).unwrap().verify(&anchor).unwrap();

    // The last lines removed: the chain is intact, the anchor is not.
    let text = std::fs::read_to_string(&path).unwrap();
    let first: String = text.lines().take(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, &first).unwrap();
    let cut = StateLog::load(&path).unwrap();
    assert!(matches!(
        cut.verify(&anchor),
        Err(Error::AnchorMismatch { .. })
    ));

    // The whole chain rewritten with recomputed hashes: caught too.
    std::fs::remove_file(&path).unwrap();
    let mut forged = Run::open(&doc, None).unwrap();
    forged.check("1.1", "mallory", vec![], at(0)).unwrap();
    forged.check("1.2", "mallory", vec![], at(1)).unwrap();
    let err = StateLog::load(&path).unwrap().verify(&anchor).unwrap_err();
    assert!(err.to_string().contains("rewritten"), "{err}");
}

#[test]
fn with_a_signing_key_a_chain_rewritten_without_it_is_refused() {
    use preflight_checklist::SigningKey;
    let key = || SigningKey::new(b"team-secret-key-0123456789".to_vec());
    assert!(SigningKey::new(b"short".to_vec()).is_none());
    let (_dir, doc) = temp_copy("production_build_checklist.md");
    let mut run = Run::open_keyed(&doc, None, key()).unwrap();
    run.check("1.1", "alice", vec![], at(0)).unwrap();
    run.check("1.2", "alice", vec![], at(1)).unwrap();
    let path = StateLog::default_path(&doc);
    // Signed entries read back with the key.
    assert_eq!(StateLog::load_keyed(&path, key()).unwrap().entries.len(), 2);
    assert!(format!("{:?}", key()).contains("***"));

    // Someone without the key rewrites the chain with recomputed hashes.
    std::fs::remove_file(&path).unwrap();
    let mut forged = Run::open(&doc, None).unwrap();
    forged.check("1.1", "mallory", vec![], at(0)).unwrap();
    assert!(StateLog::load(&path).is_ok(), "the chain alone looks fine");
    assert!(matches!(
        StateLog::load_keyed(&path, key()),
        Err(Error::UnsignedState { line: 1, .. })
    ));
    // A signed entry whose text was changed fails too.
    std::fs::remove_file(&path).unwrap();
    let mut run = Run::open_keyed(&doc, None, key()).unwrap();
    run.check("1.1", "alice", vec![], at(0)).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"alice\"", "\"bob\"")).unwrap();
    assert!(StateLog::load_keyed(&path, key()).is_err());
}
