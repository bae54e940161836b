//! `migrate new` and `migrate rollback`: create correctly named files, never
//! touch existing ones.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::source::{Migration, MigrationSource, SourceKind, SqlDir, SupabaseDir};

/// Turns "Add published RAG metadata" into `add_published_rag_metadata`.
pub fn migration_slug(name: &str) -> Result<String, Error> {
    let mut slug = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('_') && !slug.is_empty() {
            slug.push('_');
        }
    }
    let slug = slug.trim_end_matches('_').to_string();
    if slug.is_empty() {
        return Err(Error::BadMigrationName {
            name: name.to_string(),
        });
    }
    Ok(slug)
}

async fn existing(kind: SourceKind, dir: &Path) -> Result<Vec<Migration>, Error> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let (migrations, _) = match kind {
        SourceKind::Sql => SqlDir { dir: dir.into() }.list().await?,
        SourceKind::Supabase => SupabaseDir { dir: dir.into() }.list().await?,
    };
    Ok(migrations)
}

/// The next version: one more than the highest number, keeping the
/// directory's zero padding (`003` after `002`), for `sql`; a 14-digit UTC
/// timestamp, as `supabase migration new` makes, for `supabase` (bumped by a
/// second if one already has it).
fn next_version(kind: SourceKind, migrations: &[Migration], now: jiff::Timestamp) -> String {
    match kind {
        SourceKind::Sql => {
            let highest = migrations
                .iter()
                .filter_map(|m| m.version.parse::<u128>().ok())
                .max()
                .unwrap_or(0);
            let width = migrations.last().map_or(3, |m| m.version.len());
            format!("{:0width$}", highest + 1)
        }
        SourceKind::Supabase => {
            let mut at = now;
            loop {
                let version = at.strftime("%Y%m%d%H%M%S").to_string();
                if migrations.iter().all(|m| m.version < version) {
                    return version;
                }
                at += jiff::SignedDuration::from_secs(1);
            }
        }
    }
}

fn create(path: &Path, content: &str) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
    file.write_all(content.as_bytes())
        .map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })
}

/// Creates the next, empty migration file in `dir` and returns its path.
pub async fn new_migration(
    kind: SourceKind,
    dir: &Path,
    name: &str,
    now: jiff::Timestamp,
) -> Result<PathBuf, Error> {
    let slug = migration_slug(name)?;
    let migrations = existing(kind, dir).await?;
    let version = next_version(kind, &migrations, now);
    let path = dir.join(format!("{version}_{slug}.sql"));
    create(
        &path,
        &format!(
            "-- {slug}\n-- Written {}.\n\n",
            now.strftime("%Y-%m-%d %H:%M UTC")
        ),
    )?;
    Ok(path)
}

/// Scaffolds a new migration that reverts `target` (a version or a name):
/// `<version>_rollback_<name>.sql`, with the reverted file's statements and
/// suggested inverses as comments for a person to finish. Applied files are
/// history and are never edited.
pub async fn rollback_migration(
    kind: SourceKind,
    dir: &Path,
    target: &str,
    now: jiff::Timestamp,
) -> Result<PathBuf, Error> {
    let migrations = existing(kind, dir).await?;
    let reverted = migrations
        .iter()
        .find(|m| m.version == target || m.name == target)
        .ok_or_else(|| Error::UnknownTarget {
            version: target.to_string(),
        })?;
    let version = next_version(kind, &migrations, now);
    let path = dir.join(format!("{version}_rollback_{}.sql", reverted.name));
    let file = reverted
        .path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut body = format!(
        "-- Reverts {file} (version {}).\n\
         -- Rolling back means applying this new migration; {file} stays as it is.\n\
         -- Take a backup first (`preflight migrate up` does unless --no-backup).\n\
         -- Finish the statements below, then delete the lines you do not need.\n\n",
        reverted.version
    );
    let inverses = suggest_inverses(&reverted.sql);
    if inverses.is_empty() {
        body.push_str("-- No inverse could be suggested; write it by hand.\n");
    } else {
        body.push_str("-- Suggested inverses, newest first (uncomment to use):\n");
        for line in inverses {
            body.push_str(&format!("-- {line}\n"));
        }
    }
    body.push_str("\n-- The reverted migration, for reference:\n");
    for line in reverted.sql.lines() {
        body.push_str(&format!("--| {line}\n"));
    }
    create(&path, &body)?;
    Ok(path)
}

/// Inverses for the statements whose inverse is mechanical, newest first.
fn suggest_inverses(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    for stmt in crate::split::split_statements(sql) {
        let words: Vec<String> = strip_comments(&stmt)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        let at = |i: usize| upper.get(i).map(String::as_str).unwrap_or("");
        let skip_if_not_exists = |i: usize| {
            if at(i) == "IF" && at(i + 1) == "NOT" && at(i + 2) == "EXISTS" {
                i + 3
            } else {
                i
            }
        };
        let name_at = |i: usize| {
            words.get(i).map(|w| {
                w.trim_end_matches([';', '('])
                    .split('(')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
        };
        let suggestion = match (at(0), at(1), at(2)) {
            ("CREATE", "TABLE", _) => {
                name_at(skip_if_not_exists(2)).map(|n| format!("DROP TABLE IF EXISTS {n};"))
            }
            ("CREATE", "UNIQUE", "INDEX") | ("CREATE", "INDEX", _) => {
                let mut i = if at(1) == "UNIQUE" { 3 } else { 2 };
                if at(i) == "CONCURRENTLY" {
                    i += 1;
                }
                let i = skip_if_not_exists(i);
                (at(i) != "ON")
                    .then(|| name_at(i))
                    .flatten()
                    .map(|n| format!("DROP INDEX IF EXISTS {n};"))
            }
            ("CREATE", "EXTENSION", _) => {
                name_at(skip_if_not_exists(2)).map(|n| format!("DROP EXTENSION IF EXISTS {n};"))
            }
            ("CREATE", "SCHEMA", _) => {
                name_at(skip_if_not_exists(2)).map(|n| format!("DROP SCHEMA IF EXISTS {n};"))
            }
            ("CREATE", "VIEW", _) => name_at(2).map(|n| format!("DROP VIEW IF EXISTS {n};")),
            ("CREATE", "OR", "REPLACE") if at(3) == "FUNCTION" => Some(format!(
                "DROP FUNCTION IF EXISTS {};",
                signature(&words[4..])
            )),
            ("CREATE", "FUNCTION", _) => Some(format!(
                "DROP FUNCTION IF EXISTS {};",
                signature(&words[2..])
            )),
            ("ALTER", "TABLE", _) => {
                let t = skip_if_exists(&upper, 2);
                let table = name_at(t);
                let add = upper.iter().position(|w| w == "ADD");
                match (table, add) {
                    (Some(table), Some(a)) => {
                        let mut c = a + 1;
                        if at(c) == "COLUMN" {
                            c += 1;
                        }
                        let c = skip_if_not_exists(c);
                        (at(c) != "CONSTRAINT")
                            .then(|| name_at(c))
                            .flatten()
                            .map(|col| format!("ALTER TABLE {table} DROP COLUMN IF EXISTS {col};"))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(s) = suggestion {
            out.push(s);
        }
    }
    out.reverse();
    out
}

fn skip_if_exists(upper: &[String], i: usize) -> usize {
    if upper.get(i).map(String::as_str) == Some("IF")
        && upper.get(i + 1).map(String::as_str) == Some("EXISTS")
    {
        i + 2
    } else {
        i
    }
}

/// `name(arg type, …)` from the words after `FUNCTION`, argument names dropped
/// only when obvious is not attempted: DROP FUNCTION accepts names too.
fn signature(words: &[String]) -> String {
    let text = words.join(" ");
    match (text.find('('), matching_paren(&text)) {
        (Some(_), Some(end)) => text[..=end].to_string(),
        _ => text.split_whitespace().next().unwrap_or("").to_string(),
    }
}

fn matching_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn strip_comments(stmt: &str) -> String {
    stmt.lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(
            migration_slug("Add published RAG metadata!").unwrap(),
            "add_published_rag_metadata"
        );
        assert_eq!(migration_slug("  claim--job  ").unwrap(), "claim_job");
        assert!(migration_slug(" -- ").is_err());
    }

    #[test]
    fn inverses_newest_first() {
        let sql = "CREATE TABLE IF NOT EXISTS chat_threads (id uuid primary key);\n\
                   CREATE INDEX CONCURRENTLY IF NOT EXISTS chat_threads_idx ON chat_threads (id);\n\
                   ALTER TABLE chat_threads ADD COLUMN IF NOT EXISTS title text;\n\
                   CREATE OR REPLACE FUNCTION ops.claim_pending_job(kinds text[], lim integer) RETURNS void AS $$ BEGIN END $$ LANGUAGE plpgsql;\n\
                   CREATE EXTENSION IF NOT EXISTS vector;\n\
                   INSERT INTO chat_threads DEFAULT VALUES;";
        assert_eq!(
            suggest_inverses(sql),
            vec![
                "DROP EXTENSION IF EXISTS vector;",
                "DROP FUNCTION IF EXISTS ops.claim_pending_job(kinds text[], lim integer);",
                "ALTER TABLE chat_threads DROP COLUMN IF EXISTS title;",
                "DROP INDEX IF EXISTS chat_threads_idx;",
                "DROP TABLE IF EXISTS chat_threads;",
            ]
        );
    }

    #[test]
    fn next_versions() {
        let m = |v: &str| Migration::from_file(v.into(), "x".into(), PathBuf::from(v), "").unwrap();
        let now: jiff::Timestamp = "2026-02-14T10:15:00Z".parse().unwrap();
        assert_eq!(
            next_version(SourceKind::Sql, &[m("001"), m("002")], now),
            "003"
        );
        assert_eq!(next_version(SourceKind::Sql, &[], now), "001");
        assert_eq!(next_version(SourceKind::Sql, &[m("9")], now), "10");
        assert_eq!(
            next_version(SourceKind::Supabase, &[m("20260201120000")], now),
            "20260214101500"
        );
        assert_eq!(
            next_version(SourceKind::Supabase, &[m("20260214101500")], now),
            "20260214101501"
        );
    }
}
