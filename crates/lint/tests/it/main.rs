//! preflight-lint through its public API: positions, verdicts, squawk's
//! ignore comments, and any text without a panic.

use std::path::Path;

use preflight_lint::{LintPolicy, Verdict, check_rule, lint, rule_names};
use proptest::prelude::*;

#[test]
fn violations_are_placed_and_judged() {
    let policy = LintPolicy::blocking(["adding-required-field"]).unwrap();
    let sql = "-- add a flag\nALTER TABLE jobs\n  ADD COLUMN flag boolean NOT NULL;\n";
    let found = lint(Path::new("db/004_flag.sql"), sql, &policy);
    let blocking: Vec<_> = found
        .iter()
        .filter(|v| v.verdict == Verdict::Block)
        .collect();
    assert_eq!(blocking.len(), 1, "{found:#?}");
    let v = blocking[0];
    assert_eq!(v.rule, "adding-required-field");
    assert_eq!(v.path, Path::new("db/004_flag.sql"));
    assert!(v.line >= 2, "{v:?}");
    let rendered = v.render();
    assert!(
        rendered.starts_with("error[adding-required-field]: "),
        "{rendered}"
    );
    assert!(
        rendered.contains(&format!("--> db/004_flag.sql:{}:{}", v.line, v.column)),
        "{rendered}"
    );
    assert!(rendered.contains('^'), "{rendered}");
    // Every other rule warns.
    assert!(
        found
            .iter()
            .filter(|v| v.rule != "adding-required-field")
            .all(|v| v.verdict == Verdict::Warn)
    );
}

#[test]
fn squawk_ignore_comments_are_honoured() {
    let policy = LintPolicy::blocking(["require-concurrent-index-creation"]).unwrap();
    let plain = lint(Path::new("a.sql"), "CREATE INDEX i ON t (a);\n", &policy);
    assert!(
        plain
            .iter()
            .any(|v| v.rule == "require-concurrent-index-creation")
    );
    let ignored = lint(
        Path::new("a.sql"),
        "-- squawk-ignore require-concurrent-index-creation\nCREATE INDEX i ON t (a);\n",
        &policy,
    );
    assert!(
        !ignored
            .iter()
            .any(|v| v.rule == "require-concurrent-index-creation"),
        "{ignored:#?}"
    );
}

#[test]
fn unknown_rules_are_named_with_the_known_ones() {
    assert!(check_rule("ban-drop-column").is_ok());
    let e = LintPolicy::blocking(["ban-drop-colum"]).unwrap_err();
    assert!(
        e.starts_with("`ban-drop-colum` is not a squawk rule (expected one of: "),
        "{e}"
    );
    assert!(rule_names().contains(&"ban-drop-column".to_string()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Any text is linted without a panic, and every position is in the text.
    #[test]
    fn any_text_is_linted_without_a_panic(parts in prop::collection::vec(prop_oneof![
        Just("CREATE INDEX i ON t (a);".to_string()),
        Just("ALTER TABLE t ADD COLUMN c int NOT NULL;".to_string()),
        Just("-- squawk-ignore ban-drop-column\n".to_string()),
        Just("$$".to_string()),
        Just("'".to_string()),
        Just("\n".to_string()),
        "[ -~]{0,12}",
        "\\PC{0,4}",
    ], 0..20)) {
        let sql = parts.concat();
        for v in lint(Path::new("x.sql"), &sql, &LintPolicy::default()) {
            prop_assert!(v.line >= 1 && v.line <= sql.lines().count().max(1));
            prop_assert!(v.column >= 1);
        }
    }
}
