//! Agreement with migra (PyPI, in the repo's `.venv`): on the same pairs of
//! databases, every difference migra reports is a finding of Preflight's on
//! the same object.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use preflight_migrate::TempPostgres;
use preflight_schema::{Catalog, Finding, Ignore, ObjectKind, diff};
use regex::Regex;

use crate::exec;

fn migra_bin() -> String {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/migra");
    assert!(
        venv.is_file(),
        "run scripts/setup: {} is missing",
        venv.display()
    );
    venv.to_string_lossy().into_owned()
}

const BASE: &str = r#"
CREATE SCHEMA app;
CREATE TYPE app.state AS ENUM ('new', 'done');
CREATE SEQUENCE app.tickets;
CREATE TABLE app.users (id bigint PRIMARY KEY, email text NOT NULL, name text DEFAULT 'x');
CREATE TABLE app.jobs (
  id bigserial PRIMARY KEY,
  owner bigint REFERENCES app.users (id),
  state app.state NOT NULL DEFAULT 'new',
  note text,
  CONSTRAINT note_short CHECK (length(note) < 100)
);
CREATE TABLE app.old (id int);
CREATE INDEX jobs_state ON app.jobs (state);
CREATE INDEX users_email ON app.users (email);
CREATE VIEW app.open_jobs AS SELECT id, owner FROM app.jobs WHERE state = 'new';
CREATE VIEW app.gone_view AS SELECT 1 AS one;
CREATE FUNCTION app.claim(n integer) RETURNS bigint LANGUAGE sql AS $$ SELECT 1::bigint $$;
CREATE FUNCTION app.gone_fn() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER jobs_touch BEFORE UPDATE ON app.jobs FOR EACH ROW EXECUTE FUNCTION app.touch();
ALTER TABLE app.jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY jobs_mine ON app.jobs FOR SELECT USING (owner = 1);
CREATE POLICY jobs_gone ON app.jobs FOR DELETE USING (false);
"#;

/// Each of the kinds of change a hand can make, one independent change a
/// line (a pair of statements that belong together share a line).
const CHANGES: &str = r#"
ALTER TABLE app.users ADD COLUMN phone text;
ALTER TABLE app.users DROP COLUMN name;
ALTER TABLE app.users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE app.jobs ALTER COLUMN note TYPE varchar(80);
ALTER TABLE app.jobs ALTER COLUMN state SET DEFAULT 'done';
ALTER TABLE app.jobs DROP CONSTRAINT note_short;
ALTER TABLE app.jobs ADD CONSTRAINT owner_positive CHECK (owner > 0);
CREATE TABLE app.hotfix (id int PRIMARY KEY, v text);
DROP TABLE app.old;
DROP INDEX app.jobs_state;
CREATE INDEX jobs_note ON app.jobs (note) WHERE note IS NOT NULL;
DROP INDEX app.users_email; CREATE INDEX users_email ON app.users (lower(email));
CREATE OR REPLACE VIEW app.open_jobs AS SELECT id, owner FROM app.jobs WHERE state <> 'done';
DROP VIEW app.gone_view;
CREATE OR REPLACE FUNCTION app.claim(n integer) RETURNS bigint LANGUAGE sql AS $$ SELECT 2::bigint $$;
DROP FUNCTION app.gone_fn();
CREATE FUNCTION app.manual_rpc(w text) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
DROP TRIGGER jobs_touch ON app.jobs; CREATE TRIGGER jobs_touch2 AFTER INSERT ON app.jobs FOR EACH ROW EXECUTE FUNCTION app.touch();
ALTER POLICY jobs_mine ON app.jobs USING (owner = 2);
DROP POLICY jobs_gone ON app.jobs;
CREATE POLICY jobs_new ON app.jobs FOR INSERT WITH CHECK (true);
ALTER TYPE app.state ADD VALUE 'failed';
CREATE TYPE app.mood AS ENUM ('ok');
DROP SEQUENCE app.tickets;
CREATE SEQUENCE app.invoices;
CREATE SCHEMA audit;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
"#;

/// The objects migra's SQL touches: (kind, name), functions without their
/// arguments; `None` for statements that name no object (`set …`).
fn migra_objects(sql: &str) -> BTreeSet<(ObjectKind, String)> {
    let q = r#""?([^"\s.(]+)"?"#;
    let rules: Vec<(ObjectKind, Regex, &str)> = vec![
        (ObjectKind::Column, format!(r"(?i)^alter table {q}\.{q} (?:add|drop|alter) column {q}"), "$1.$2.$3"),
        (ObjectKind::Constraint, format!(r"(?i)^alter table {q}\.{q} (?:add|drop|validate) constraint {q}"), "$1.$2.$3"),
        (ObjectKind::Table, format!(r"(?i)^alter table {q}\.{q} (?:enable|disable|force|no force) row level security"), "$1.$2"),
        (ObjectKind::Table, format!(r"(?i)^(?:create|drop) table (?:if exists )?{q}\.{q}"), "$1.$2"),
        (ObjectKind::Index, format!(r"(?i)^create (?:unique )?index {q} on (?:only )?{q}\.{q}"), "$2.$1|$2.$3"),
        (ObjectKind::Index, format!(r"(?i)^drop index (?:if exists )?{q}\.{q}"), "$1.$2"),
        (ObjectKind::View, format!(r"(?i)^(?:create or replace|create|drop) (?:materialized )?view (?:if exists )?{q}\.{q}"), "$1.$2"),
        (ObjectKind::Function, format!(r"(?i)^(?:create or replace|drop) (?:function|procedure) (?:if exists )?{q}\.{q}"), "$1.$2"),
        (ObjectKind::Policy, format!(r"(?i)^(?:create|drop|alter) policy {q} on {q}\.{q}"), "$2.$3.$1"),
        (ObjectKind::Trigger, format!(r"(?i)^create (?:or replace )?(?:constraint )?trigger {q} .*? on {q}\.{q}"), "$2.$3.$1"),
        (ObjectKind::Trigger, format!(r"(?i)^drop trigger (?:if exists )?{q} on {q}\.{q}"), "$2.$3.$1"),
        (ObjectKind::Enum, format!(r"(?i)^(?:create|alter|drop) type (?:if exists )?{q}\.{q}"), "$1.$2"),
        (ObjectKind::Sequence, format!(r"(?i)^(?:create|alter|drop) sequence (?:if exists )?{q}\.{q}"), "$1.$2"),
        (ObjectKind::Schema, format!(r"(?i)^(?:create|drop) schema (?:if (?:not )?exists )?{q}"), "$1"),
        (ObjectKind::Extension, format!(r"(?i)^(?:create|drop) extension (?:if (?:not )?exists )?{q}"), "$1"),
    ]
    .into_iter()
    .map(|(k, re, with)| (k, Regex::new(&re).unwrap(), with))
    .collect();
    let mut objects = BTreeSet::new();
    for statement in sql.split(";\n") {
        let statement = statement.trim().replace('\n', " ");
        if statement.is_empty() || statement.to_lowercase().starts_with("set ") {
            continue;
        }
        let found = rules.iter().find_map(|(kind, re, with)| {
            re.captures(&statement).map(|c| {
                let mut name = String::new();
                c.expand(with, &mut name);
                (*kind, name)
            })
        });
        let (kind, name) =
            found.unwrap_or_else(|| panic!("a migra statement the test cannot read: {statement}"));
        // migra changes an enum by renaming the old type aside.
        let name = name.replace("__old_version_to_be_dropped", "");
        objects.insert((kind, name));
    }
    objects
}

/// Whether Preflight's findings cover `object`: the object itself (a
/// function by name), its table when the table is new or gone, or, for an
/// index migra drops with its constraint, that constraint; or it is the
/// same in both databases (migra's rebuild around a real difference).
fn covered(findings: &[Finding], catalogs: [&Catalog; 2], kind: ObjectKind, name: &str) -> bool {
    // An index migra creates names its table after `|`.
    let (name, table) = match name.split_once('|') {
        Some((n, t)) => (n, Some(t)),
        None => (name, None),
    };
    // An object identical in both databases is not a difference: migra
    // drops and recreates it around one (a view over a rebuilt enum).
    let key = (kind, name.to_string());
    if let (Some(a), Some(b)) = (catalogs[0].objects.get(&key), catalogs[1].objects.get(&key))
        && a.attributes == b.attributes
    {
        return true;
    }
    findings.iter().any(|f| {
        let base = f.name.split('(').next().unwrap_or(&f.name);
        (f.kind == kind && (f.name == name || (kind == ObjectKind::Function && base == name)))
            || (f.kind == ObjectKind::Table
                && f.label() != "changed"
                && (name.starts_with(&format!("{}.", f.name)) || table == Some(f.name.as_str())))
            || (kind == ObjectKind::Index
                && f.kind == ObjectKind::Constraint
                && f.name.rsplit('.').next() == name.rsplit('.').next())
    }) || (kind == ObjectKind::Index && {
        // The index of a constraint of a table that is itself new or gone.
        let index = name.rsplit('.').next().unwrap_or(name);
        catalogs.iter().flat_map(|c| c.objects.values()).any(|o| {
            o.kind == ObjectKind::Constraint
                && o.name.rsplit('.').next() == Some(index)
                && o.parent.as_deref().is_some_and(|t| {
                    findings.iter().any(|f| {
                        f.kind == ObjectKind::Table && f.name == t && f.label() != "changed"
                    })
                })
        })
    })
}

#[tokio::test]
async fn every_difference_migra_reports_is_a_finding_on_the_same_object() {
    agree_with_migra(CHANGES, 20).await;
}

/// Pairs generated from subsets of the changes (a fixed pseudo-random
/// choice per seed, so a failure reproduces): the agreement holds on each.
#[tokio::test]
async fn agreement_holds_on_generated_pairs() {
    let lines: Vec<&str> = CHANGES.lines().filter(|l| !l.trim().is_empty()).collect();
    for seed in [7u64, 19, 41] {
        let mut state = seed;
        let chosen: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|_| {
                // xorshift: deterministic, no dependency.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state % 2 == 0
            })
            .collect();
        assert!(chosen.len() > 3, "seed {seed}");
        agree_with_migra(&chosen.join("\n"), 2).await;
    }
}

async fn agree_with_migra(changes: &str, at_least: usize) {
    let pg = TempPostgres::start().unwrap();
    let base = pg.create_database("base").unwrap();
    let changed = pg.create_database("changed").unwrap();
    exec(&base, BASE).await;
    exec(&changed, BASE).await;
    exec(&changed, changes).await;
    let read = |url: String| async move {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        Catalog::read(&mut conn, &Ignore::default()).await.unwrap()
    };
    let (a, b) = (read(base.clone()).await, read(changed.clone()).await);
    // Both directions: what was added one way is dropped the other.
    for (from, to, expected, actual) in [(&base, &changed, &a, &b), (&changed, &base, &b, &a)] {
        let out = Command::new(migra_bin())
            .args([
                "--unsafe",
                &from.replace("postgres://", "postgresql://"),
                &to.replace("postgres://", "postgresql://"),
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "migra: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sql = String::from_utf8(out.stdout).unwrap();
        let theirs = migra_objects(&sql);
        assert!(theirs.len() >= at_least, "{theirs:?}");
        let ours = diff(expected, actual);
        let missed: Vec<_> = theirs
            .iter()
            .filter(|(k, n)| !covered(&ours, [expected, actual], *k, n))
            .collect();
        assert!(
            missed.is_empty(),
            "migra reports, Preflight does not: {missed:?}\nmigra:\n{sql}\nours: {ours:#?}"
        );
    }
}
