//! No input makes the parser or validators panic.

use preflight_manifest::{Manifest, PlatformConfig, ValidateOptions};
use proptest::prelude::*;

/// YAML-ish fragments, so generated text often parses and reaches validation.
fn yamlish() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("release_id: ".to_string()),
        Just("commits:\n".to_string()),
        Just("images:\n".to_string()),
        Just("migrations:\n".to_string()),
        Just("feature_flags:\n".to_string()),
        Just("  mobius-chat: ".to_string()),
        Just("  - ".to_string()),
        Just("2026-02-14-prod".to_string()),
        Just("<tag>".to_string()),
        Just("gcr.io/p/x:".to_string()),
        Just("[a, b]".to_string()),
        Just("{k: v}".to_string()),
        Just("\"quoted\"".to_string()),
        Just("'q'".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("\n".to_string()),
        Just("\t".to_string()),
        Just("# c\n".to_string()),
        "[ -~]{0,12}",
        "\\PC{0,6}",
    ];
    prop::collection::vec(atom, 0..40).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn manifest_check_never_panics(text in yamlish()) {
        let checked = Manifest::check("f.yaml".as_ref(), &text, &ValidateOptions::default());
        let _ = checked.render();
        for d in &checked.diagnostics {
            prop_assert!(d.line >= 1 && d.column >= 1);
        }
    }

    #[test]
    fn config_check_never_panics(text in yamlish()) {
        let checked = PlatformConfig::check("p.yaml".as_ref(), &text);
        let _ = checked.render();
    }

    #[test]
    fn arbitrary_bytes_never_panic(text in "\\PC{0,200}") {
        let _ = Manifest::check("f.yaml".as_ref(), &text, &ValidateOptions::default()).render();
    }
}

/// The example's config, with a fragment spliced in somewhere: most cases
/// parse and reach deep validation (gcp freeze entries, rollout shares,
/// watch metrics) with one thing wrong.
fn spliced_config() -> impl Strategy<Value = String> {
    let base = include_str!("../../../../examples/mobius/preflight.yaml");
    let fragment = prop_oneof![
        Just("- schedule: \n".to_string()),
        Just("{service: x, schedule: y}".to_string()),
        Just("then: [101, 0, -5, 50, 50]\n".to_string()),
        Just("canary_percent: 0\n".to_string()),
        Just("location: ".to_string()),
        Just("min_requests: -1".to_string()),
        Just("freeze: {}\n".to_string()),
        Just("- [nested]\n".to_string()),
        Just("\n  ".to_string()),
        "[ -~]{0,12}",
        "\\PC{0,6}",
    ];
    (0..base.len(), 0usize..40, fragment).prop_map(move |(at, cut, fragment)| {
        let at = (0..=at)
            .rev()
            .find(|i| base.is_char_boundary(*i))
            .unwrap_or(0);
        let end = (at + cut..=base.len())
            .find(|i| base.is_char_boundary(*i))
            .unwrap_or(base.len());
        format!("{}{fragment}{}", &base[..at], &base[end..])
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn spliced_configs_never_panic(text in spliced_config()) {
        let checked = PlatformConfig::check("p.yaml".as_ref(), &text);
        let _ = checked.render();
        for d in &checked.diagnostics {
            prop_assert!(d.line >= 1 && d.column >= 1);
        }
    }
}
