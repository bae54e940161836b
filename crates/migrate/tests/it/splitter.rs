//! Property: splitting never panics, and statements come back in order, trimmed.

use preflight_migrate::split_statements;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn never_panics_and_keeps_text(sql in "(select|begin|atomic|end|'|\"|\\$\\$|\\$t\\$|--|/\\*|\\*/|;|\\(|\\)|\\\\|\n| |x|é){0,60}") {
        let stmts = split_statements(&sql);
        let mut rest = sql.as_str();
        for s in &stmts {
            prop_assert!(!s.is_empty());
            prop_assert_eq!(s.trim(), s.as_str());
            let at = rest.find(s.as_str());
            prop_assert!(at.is_some(), "statement {:?} not found in order", s);
            rest = &rest[at.unwrap() + s.len()..];
        }
    }

    #[test]
    fn plain_statements_split_exactly(parts in prop::collection::vec("[a-z ]{1,12}", 1..8)) {
        let sql = parts.join(";");
        let expected: Vec<String> = parts.iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect();
        prop_assert_eq!(split_statements(&sql), expected);
    }
}
