//! No document or state log makes the parser or the log reader panic.

use preflight_checklist::{Checklist, StateLog};
use proptest::prelude::*;

/// Markdown-ish fragments, with marks that are not ASCII among them.
fn markdownish() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("## 1. Section\n".to_string()),
        Just("# Title\n".to_string()),
        Just("| Check | Owner | Action |\n| --- | --- | --- |\n".to_string()),
        Just("| [ ] | me | do |\n".to_string()),
        Just("| [x] | | |\n".to_string()),
        Just("| [✓] | me | do it |\n".to_string()),
        Just("| [é] |".to_string()),
        Just("- [ ] task\n".to_string()),
        Just("  - [x] sub\n".to_string()),
        Just("- [".to_string()),
        Just("```\n".to_string()),
        Just("> ".to_string()),
        Just("|".to_string()),
        Just("\r\n".to_string()),
        Just("\n".to_string()),
        "[ -~]{0,10}",
        "\\PC{0,4}",
    ];
    prop::collection::vec(atom, 0..30).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics(text in markdownish()) {
        if let Ok(c) = Checklist::parse("f.md".as_ref(), &text) {
            let _ = preflight_checklist::render(&c, &Default::default());
        }
    }

    #[test]
    fn a_log_of_any_text_is_read_or_refused(lines in prop::collection::vec(prop_oneof![
        Just(r#"{"seq":1,"at":"2026-01-01T00:00:00Z","by":"a","event":"approve","prev":"0000000000000000000000000000000000000000000000000000000000000000"}"#.to_string()),
        Just(r#"{"seq":1}"#.to_string()),
        "\\PC{0,40}",
    ], 0..5)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        std::fs::write(&path, lines.join("\n")).unwrap();
        let _ = StateLog::load(&path);
    }
}
