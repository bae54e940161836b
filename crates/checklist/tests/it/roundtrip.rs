//! Property: with an empty state, rendering any document reproduces it byte for byte.

use preflight_checklist::{Checklist, State, render};
use proptest::prelude::*;

fn block() -> impl Strategy<Value = String> {
    let text = "[a-zA-Z0-9 `*_.,:()|\\\\-]{0,30}";
    prop_oneof![
        (1usize..4, 0u8..9, text)
            .prop_map(|(level, n, t)| format!("{} {n}. {t}\n", "#".repeat(level))),
        text.prop_map(|t| format!("{t}\n")),
        Just("\n".to_string()),
        (
            prop::bool::ANY,
            text,
            "[ \t]{0,4}",
            prop::sample::select(vec!["-", "*", "+", "1."])
        )
            .prop_map(|(x, t, indent, bullet)| format!(
                "{indent}{bullet} [{}] {t}\n",
                if x { "x" } else { " " }
            )),
        (
            prop::collection::vec((prop::bool::ANY, text, text), 1..4),
            prop::bool::ANY
        )
            .prop_map(|(rows, outer)| {
                let bar = if outer { "|" } else { "" };
                let mut t =
                    format!("{bar} Check | Owner | Notes {bar}\n{bar} --- | :--- | --- {bar}\n");
                for (x, owner, notes) in rows {
                    let owner = owner.replace('|', "\\|");
                    let notes = notes.replace('|', "\\|");
                    t.push_str(&format!(
                        "{bar} [{}] | {owner} | {notes} {bar}\n",
                        if x { "x" } else { " " }
                    ));
                }
                t
            }),
        text.prop_map(|t| format!("```sh\n# 1. not a heading\n- [ ] not a task {t}\n```\n")),
        text.prop_map(|t| format!("> - [ ] quoted {t}\n")),
        Just("\r\n".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn empty_state_round_trips(blocks in prop::collection::vec(block(), 0..25), trailing_newline in prop::bool::ANY) {
        let mut doc = blocks.concat();
        if !trailing_newline {
            doc = doc.trim_end_matches('\n').to_string();
        }
        if let Ok(c) = Checklist::parse("gen.md".as_ref(), &doc) {
            prop_assert_eq!(render(&c, &State::default()), doc);
        }
    }

    #[test]
    fn checking_everything_changes_only_the_marks(blocks in prop::collection::vec(block(), 1..25)) {
        let doc = blocks.concat();
        if let Ok(c) = Checklist::parse("gen.md".as_ref(), &doc) {
            let mut state = State::default();
            for item in &c.items {
                state.items.entry(item.id.clone()).or_default().checked = Some(true);
            }
            let rendered = render(&c, &state);
            prop_assert_eq!(rendered.len(), doc.len());
            for (a, b) in rendered.bytes().zip(doc.bytes()) {
                prop_assert!(a == b || (a == b'x' && b == b' ') || (a == b'x' && b == b'X'));
            }
        }
    }
}
