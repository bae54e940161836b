//! Splitting SQL into statements the way the Supabase CLI does
//! (`pkg/parser/token.go`, `state.go`: `SplitAndTrim`): on `;` outside
//! quotes, dollar quotes, comments, parentheses and `BEGIN ATOMIC … END`;
//! each statement without its trailing `;`s and trimmed; empty ones
//! dropped; comments kept. The CLI's own test cases are ported in
//! `tests/it/splitter.rs`.

/// The first top-level transaction-control statement of `sql` (`BEGIN`,
/// `START TRANSACTION`, `COMMIT`, `END`, `ROLLBACK`, `ABORT`), with its
/// 1-based line: inside the transaction Preflight wraps a file in, it would
/// commit part of the file and leave the rest, and the ledger row, behind.
pub fn transaction_control(sql: &str) -> Option<(usize, String)> {
    for (at, end) in statement_spans(sql) {
        let (skipped, code) = skip_comments(&sql[at..end]);
        let words: Vec<String> = code
            .split_whitespace()
            .take(2)
            .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
            .collect();
        let first = words.first().map(String::as_str).unwrap_or("");
        let second = words.get(1).map(String::as_str).unwrap_or("");
        let control = match first {
            "BEGIN" => second != "ATOMIC",
            "START" => second == "TRANSACTION",
            "COMMIT" | "END" | "ROLLBACK" | "ABORT" => true,
            _ => false,
        };
        if control {
            let line = sql[..at + skipped].matches('\n').count() + 1;
            return Some((line, first.to_string()));
        }
    }
    None
}

/// The 1-based line where the code of statement `span` starts (after the
/// comments the splitter keeps with it): where psql would point.
pub(crate) fn start_line(sql: &str, span: (usize, usize)) -> usize {
    let (skipped, _) = skip_comments(&sql[span.0..span.1]);
    sql[..span.0 + skipped].matches('\n').count() + 1
}

/// `text` after its leading whitespace and comments, and how many bytes were skipped.
fn skip_comments(text: &str) -> (usize, &str) {
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start();
        if let Some(after) = trimmed.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = trimmed.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else {
            return (text.len() - trimmed.len(), trimmed);
        }
    }
}

/// Splits `sql` into statements.
pub fn split_statements(sql: &str) -> Vec<String> {
    statement_spans(sql)
        .into_iter()
        .map(|(start, end)| sql[start..end].to_string())
        .collect()
}

/// Where each statement of `sql` starts and ends (byte offsets of the
/// trimmed text, without its `;`), in order: for naming the line a failing
/// statement starts on.
///
/// Matches the Supabase CLI's `SplitAndTrim`, with two places where the CLI
/// is wrong and this is right: a `CASE … END` inside a `BEGIN ATOMIC` body
/// does not end the body (supabase/cli#3474), and nested parentheses close
/// one at a time.
pub fn statement_spans(sql: &str) -> Vec<(usize, usize)> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut depth = 0usize; // parentheses
    let mut atomic = 0usize; // BEGIN ATOMIC blocks
    let mut case = 0usize; // CASE … END inside a BEGIN ATOMIC body
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if i + 1 < b.len() && b[i + 1] == q {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut nest = 1;
                i += 2;
                while i < b.len() && nest > 0 {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        nest += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        nest -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
            }
            b'$' => match dollar_tag(&sql[i..]) {
                Some(tag) => {
                    let body = i + tag.len();
                    match sql[body..].find(tag) {
                        Some(end) => i = body + end + tag.len(),
                        None => i = b.len(),
                    }
                }
                None => i += 1,
            },
            b'\\' => i += 1 + sql[i + 1..].chars().next().map_or(0, char::len_utf8),
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b';' if depth == 0 && atomic == 0 => {
                push(&mut out, sql, start, i);
                i += 1;
                start = i;
            }
            c if c.is_ascii_alphabetic() && (i == 0 || !is_word(b[i - 1])) => {
                let word_end = (i..b.len()).find(|&j| !is_word(b[j])).unwrap_or(b.len());
                let word = &sql[i..word_end];
                if word.eq_ignore_ascii_case("atomic") && preceded_by_begin(&sql[..i]) {
                    atomic += 1;
                } else if atomic > 0 && word.eq_ignore_ascii_case("case") {
                    case += 1;
                } else if atomic > 0 && word.eq_ignore_ascii_case("end") {
                    if case > 0 {
                        case -= 1;
                    } else {
                        atomic -= 1;
                    }
                }
                i = word_end;
            }
            _ => i += 1,
        }
    }
    push(&mut out, sql, start.min(sql.len()), sql.len());
    out
}

/// Keeps `sql[start..end]` as the CLI's `SplitAndTrim` keeps a token: its
/// trailing `;`s removed (an escaped `\\;` included), then trimmed; empty
/// tokens dropped.
fn push(out: &mut Vec<(usize, usize)>, sql: &str, start: usize, end: usize) {
    let raw = &sql[start..end];
    let kept = raw.trim_end_matches(';');
    let trimmed_end = kept.trim_end();
    let body = trimmed_end.trim_start();
    if !body.is_empty() {
        let from = start + (trimmed_end.len() - body.len());
        out.push((from, from + body.len()));
    }
}

/// A byte of an identifier: PostgreSQL counts every non-ASCII byte as a letter.
fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn preceded_by_begin(before: &str) -> bool {
    let t = before.trim_end().as_bytes();
    t.len() >= 5
        && t[t.len() - 5..].eq_ignore_ascii_case(b"begin")
        && (t.len() == 5 || !is_word(t[t.len() - 6]))
}

/// `$tag$` or `$$` at the start of `s`.
fn dollar_tag(s: &str) -> Option<&str> {
    let rest = &s[1..];
    let end = rest.find('$')?;
    let tag = &rest[..end];
    // An identifier without `$`: not starting with a digit (so `$1` is a
    // parameter), non-ASCII letters allowed, as PostgreSQL's lexer reads it.
    let ok = tag.is_empty()
        || (!tag.starts_with(|c: char| c.is_ascii_digit())
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()));
    ok.then(|| &s[..end + 2])
}

#[cfg(test)]
mod tests {
    #[test]
    fn transaction_control_is_found_with_its_line() {
        assert_eq!(
            super::transaction_control("CREATE TABLE a();\nBEGIN;\nCREATE TABLE b();\nCOMMIT;\n"),
            Some((2, "BEGIN".to_string()))
        );
        assert_eq!(
            super::transaction_control("SELECT 1;\n-- done\ncommit;"),
            Some((3, "COMMIT".to_string()))
        );
        assert_eq!(
            super::transaction_control("START TRANSACTION ISOLATION LEVEL SERIALIZABLE;"),
            Some((1, "START".to_string()))
        );
        // Not transaction control: function bodies, strings, comments.
        for fine in [
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;",
            "CREATE FUNCTION g() RETURNS void AS $$ BEGIN PERFORM 1; END $$ LANGUAGE plpgsql;",
            "SELECT 'COMMIT';",
            "-- COMMIT;\nSELECT 1;",
            "DO $$ BEGIN COMMIT; END $$;",
        ] {
            assert_eq!(super::transaction_control(fine), None, "{fine}");
        }
    }

    use super::*;

    #[test]
    fn splits_like_the_supabase_cli() {
        let sql = "create table a (x text default ';');\n-- a comment; still comment\ninsert into a values ('it''s; fine');\n\
                   create function f() returns int as $body$ select 1; $body$ language sql;\n\
                   create function g() returns int language sql begin atomic select 1; select 2; end;\n\
                   /* block; /* nested; */ */ select 3;;\n";
        let stmts = split_statements(sql);
        assert_eq!(stmts.len(), 5, "{stmts:#?}");
        assert_eq!(stmts[0], "create table a (x text default ';')");
        assert!(stmts[1].starts_with("-- a comment; still comment\ninsert"));
        assert!(stmts[2].ends_with("$body$ language sql"));
        assert!(stmts[3].ends_with("select 2; end"));
        assert!(stmts[4].starts_with("/* block;"));
    }

    #[test]
    fn empty_and_trailing() {
        assert!(split_statements(" ;; \n").is_empty());
        assert_eq!(split_statements("select 1"), ["select 1"]);
    }
}
