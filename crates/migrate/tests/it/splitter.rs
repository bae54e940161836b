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

/// What the Supabase CLI's `SplitAndTrim` returns for a file made of
/// `pieces` (its `Split` returns the pieces themselves): each piece without
/// its trailing `;`s, trimmed, empty ones dropped.
fn cli_split_and_trim(pieces: &[&str]) -> Vec<String> {
    pieces
        .iter()
        .map(|p| p.trim_end_matches(';').trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The CLI's `checkSplit`: the file is the pieces joined, and the split
/// must give back exactly those pieces (here after `SplitAndTrim`).
fn check_split(pieces: &[&str]) {
    let sql = pieces.concat();
    assert_eq!(
        split_statements(&sql),
        cli_split_and_trim(pieces),
        "splitting {sql:?}"
    );
}

/// Every case of `pkg/parser/state_test.go` in supabase/cli (read at
/// commit 13d25715, the Go splitter of CLI v2), under the CLI's test names.
#[test]
fn the_supabase_cli_parser_cases_agree() {
    // TestLineComment
    check_split(&["END;", "-- comment"]); // after separator
    check_split(&["SELECT --; 1"]); // before separator
    check_split(&["- ;", "END"]); // not started
    check_split(&["-- /* \n;", " */ END"]); // between lines
    // TestBlockComment
    check_split(&["SELECT /* ; */ 1;"]); // contains separator
    check_split(&["SELECT /*; /*;*/ ;*/ 1"]); // nested block
    check_split(&["/ * ;", " */ END"]); // not started
    // TestSeparator
    check_split(&[";", "END;", ";"]); // no spaces
    check_split(&["BEGIN   ;", "  END"]); // between spaces
    check_split(&["\\;;", "\\;"]); // backslash escaped
    // TestDollarQuote
    check_split(&["$tag$ any ; string$tag$"]); // named tag
    check_split(&["$$\"Dane's horse\"$$"]); // anonymous tag
    check_split(&["SELECT \"$\";", " $$"]); // not started
    // TestSingleQuote
    check_split(&["SELECT ';' 1"]); // escapes separator
    check_split(&["SELECT ';'';' 1"]); // preserves single quote
    check_split(&["SELECT '\\';", " 1'"]); // literal backslash
    // TestDoubleQuote
    check_split(&["CREATE POLICY \"cats;dogs\" on cats_dogs;", " END"]);
    check_split(&["CREATE POLICY \"cat's and dog's\" on cats_dogs;", " END"]);
    check_split(&["CREATE POLICY \"pet\"\"name\" on pets;", " END"]);
    // TestParentheses
    check_split(&[
        "CREATE RULE notify_me AS ON UPDATE TO mytable DO (NOTIFY mytable; SELECT \"1\");",
        "SELECT 1",
    ]);
    check_split(&[
        "CREATE RULE notify_me AS ON UPDATE TO mytable DO (-- )\nSELECT ')';\n-- )\n)\n",
    ]);
    // TestBeginAtomic
    check_split(&[
        "CREATE FUNCTION add(a integer, b integer) RETURNS integer\nLANGUAGE SQL\nIMMUTABLE STRICT PARALLEL SAFE\nRETURNS NULL ON NULL INPUT\nBEGIN ATOMIC\n\tSELECT 'add';\n\tSELECT a + b;\nEND;",
    ]);
    check_split(&["begin atomic; select 'end'; end"]); // case insensitive
    check_split(&["CREATE FUNCTION test() BEGIN\nATOMIC-- END;\n-- END;\nEND\n;"]); // ignores literals
    check_split(&["create table public.atomic_test (id int);", "\nselect 1;"]);
    check_split(&[
        "CREATE OR REPLACE FUNCTION public.my_function_atomic(p_id uuid)\nRETURNS void\nLANGUAGE plpgsql\nAS $$\nBEGIN\n  RAISE NOTICE 'hello';\nEND;\n$$;",
        "\nGRANT EXECUTE ON FUNCTION public.my_function_atomic(uuid) TO authenticated;",
    ]);
    check_split(&["select is_atomic from flags;", "\nselect 1;"]);
    check_split(&["select col1atomic from t;", "\nselect 1;"]);
    // testdata/split_05.sql and split_07.sql: one statement each.
    check_split(&[
        "\n\nCREATE INDEX \"placement_location_name_index_index\"\n    ON \"blocks\".placement (location_name, index);",
    ]);
    check_split(&[
        "\n\nCREATE INDEX \"placement_index_index\"\n    ON \"blocks\".placement (index);",
    ]);
}

/// Where the CLI is wrong, Preflight is right (each is in the
/// compatibility table of `docs/compatibility.md`).
#[test]
fn where_the_cli_splits_wrongly_preflight_keeps_one_statement() {
    // supabase/cli#3474 (open): a CASE … END inside BEGIN ATOMIC ends the
    // body early in the CLI, which then fails with "syntax error at end of input".
    check_split(&[
        "CREATE FUNCTION is_big(n int) RETURNS boolean LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE\n    WHEN n > 10 THEN true\n    ELSE false\n  END;\nEND;",
        "\nSELECT 1;",
    ]);
    // supabase/cli#6562: an identifier ending in `end` (`pending`, `legend`)
    // closed the body in the CLI before its fix.
    check_split(&[
        "create function f() returns integer language sql\nbegin atomic\n  select 1 as pending;\n  select 2 as legend;\nend;",
        "\nselect 1;",
    ]);
    // Nested parentheses in a rule body close one at a time (the CLI's
    // `(` state ends at the first `)`, splitting inside the body).
    check_split(&[
        "CREATE RULE log_it AS ON INSERT TO t DO ALSO (INSERT INTO log VALUES (new.id); NOTIFY t);",
        "\nSELECT 1;",
    ]);
    // `$1` is a parameter, not a dollar-quote tag; `a$b$` is an identifier.
    check_split(&[
        "PREPARE p AS SELECT $1, $2;",
        " SELECT a$b$ FROM t;",
        " SELECT 2",
    ]);
}
