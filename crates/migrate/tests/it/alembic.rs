//! Alembic: the static graph against what real Alembic (PyPI, in the repo's
//! `.venv`) reports for the same folders, and upgrades on real PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use preflight_migrate::{AlembicMigrator, AlembicProject, Error, load_revisions};

use crate::{cluster, exec, query};

/// The venv's alembic (`scripts/setup` makes it), else the one on PATH.
fn alembic_bin() -> String {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/alembic");
    if venv.is_file() {
        venv.to_string_lossy().into_owned()
    } else {
        "alembic".into()
    }
}

const ENV_PY: &str = r#"import os
from alembic import context
from sqlalchemy import create_engine

url = os.environ.get("DATABASE_URL", "postgresql://localhost/offline").replace("postgres://", "postgresql+psycopg2://", 1)
if context.is_offline_mode():
    context.configure(url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
"#;

struct Rev<'a> {
    id: &'a str,
    down: &'a str,
    labels: &'a str,
    depends: &'a str,
    body: &'a str,
}

fn rev<'a>(id: &'a str, down: &'a str) -> Rev<'a> {
    Rev {
        id,
        down,
        labels: "None",
        depends: "None",
        body: "pass",
    }
}

/// A project folder: alembic.ini, env.py and one file per revision, written
/// in varied styles (annotated, plain, single and double quotes).
fn project(revs: &[Rev<'_>]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("alembic.ini"),
        "[alembic]\nscript_location = %(here)s/migrations\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("migrations/versions")).unwrap();
    std::fs::write(root.join("migrations/env.py"), ENV_PY).unwrap();
    std::fs::write(root.join("migrations/script.py.mako"), "").unwrap();
    std::fs::write(root.join("migrations/versions/__init__.py"), "").unwrap();
    std::fs::write(root.join("migrations/versions/README"), "not a revision").unwrap();
    for (n, r) in revs.iter().enumerate() {
        let header = if n % 2 == 0 {
            format!(
                "revision: str = {:?}\ndown_revision: Union[str, Sequence[str], None] = {}\nbranch_labels = {}\ndepends_on: Union[str, Sequence[str], None] = {}\n",
                r.id, r.down, r.labels, r.depends
            )
        } else {
            format!(
                "revision = '{}'\ndown_revision = {}\nbranch_labels = {}\ndepends_on = {}\n",
                r.id, r.down, r.labels, r.depends
            )
        };
        let text = format!(
            "\"\"\"revision {id}\n\nRevision ID: {id}\n\"\"\"\nfrom typing import Sequence, Union\nfrom alembic import op\n\n{header}\n\ndef upgrade():\n    {body}\n\n\ndef downgrade():\n    pass\n",
            id = r.id,
            body = r.body
        );
        std::fs::write(
            root.join(format!("migrations/versions/{:03}_{}.py", n, r.id)),
            text,
        )
        .unwrap();
    }
    dir
}

fn alembic(root: &Path, args: &[&str]) -> String {
    let out = Command::new(alembic_bin())
        .args(["-c", "alembic.ini"])
        .args(args)
        .current_dir(root)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "alembic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// First token of each line: `ab12 (label) (head)` → `ab12`.
fn first_tokens(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

/// `a -> b (head), msg` / `<base> -> a, msg` → `b`.
fn history_ids(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once("-> "))
        .map(|(_, rest)| rest.split([' ', ',']).next().unwrap().to_string())
        .collect()
}

/// The revisions offline `upgrade RANGE --sql` runs, in order.
fn offline_plan(root: &Path, range: &str) -> Vec<String> {
    let sql = alembic(root, &["upgrade", range, "--sql"]);
    sql.lines()
        .filter_map(|l| l.strip_prefix("-- Running upgrade "))
        .map(|rest| {
            let to = rest.split_once("-> ").unwrap().1;
            to.trim().to_string()
        })
        .collect()
}

fn versions(root: &Path) -> PathBuf {
    root.join("migrations/versions")
}

fn strings(v: Vec<&str>) -> Vec<String> {
    v.into_iter().map(str::to_string).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Every question asked of both, on one tree.
fn same_answers(root: &Path, upgrades: &[(&[&str], &str)]) {
    let (graph, warnings) = load_revisions(&[versions(root)], false).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    same_answers_of(root, &graph, upgrades);
}

fn same_answers_of(
    root: &Path,
    graph: &preflight_migrate::RevisionGraph,
    upgrades: &[(&[&str], &str)],
) {
    assert_eq!(
        sorted(strings(graph.heads())),
        sorted(first_tokens(&alembic(root, &["heads"]))),
        "heads"
    );
    assert_eq!(
        sorted(strings(graph.real_heads())),
        sorted(first_tokens(&alembic(
            root,
            &["heads", "--resolve-dependencies"]
        ))),
        "heads --resolve-dependencies"
    );
    let history: Vec<String> = graph.history().iter().map(|r| r.id.clone()).collect();
    assert_eq!(
        history,
        history_ids(&alembic(root, &["history"])),
        "history"
    );
    let branches: Vec<String> = alembic(root, &["branches"])
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(
        sorted(strings(graph.branch_points())),
        sorted(branches),
        "branches"
    );
    for (current, target) in upgrades {
        let current: Vec<String> = current.iter().map(|s| s.to_string()).collect();
        let plan = graph.upgrade_plan(&current, target).unwrap();
        let ours: Vec<String> = plan.steps.iter().map(|r| r.id.clone()).collect();
        let range = match current.as_slice() {
            [one] => format!("{one}:{target}"),
            _ => target.to_string(),
        };
        assert_eq!(ours, offline_plan(root, &range), "upgrade {range}");
    }
}

#[test]
fn linear_history_matches_alembic() {
    let p = project(&[
        rev("1a2b3c4d0001", "None"),
        rev("1a2b3c4d0002", "'1a2b3c4d0001'"),
        rev("1a2b3c4d0003", "\"1a2b3c4d0002\""),
        rev("9f8e7d6c0004", "'1a2b3c4d0003'"),
    ]);
    same_answers(
        p.path(),
        &[
            (&[], "heads"),
            (&["1a2b3c4d0002"], "head"),
            (&[], "1a2b3c4d0003"),
        ],
    );
    let (graph, _) = load_revisions(&[versions(p.path())], false).unwrap();
    assert_eq!(graph.resolve("9f8e").unwrap(), ["9f8e7d6c0004"]);
    let ambiguous = graph.resolve("1a2b").unwrap_err().to_string();
    assert!(
        ambiguous.contains("several revisions start with `1a2b`"),
        "{ambiguous}"
    );
    assert!(
        graph
            .resolve("1a2")
            .unwrap_err()
            .to_string()
            .contains("at least four characters")
    );
}

#[test]
fn branches_merges_labels_and_dependencies_match_alembic() {
    let p = project(&[
        rev("base0001", "None"),
        Rev {
            labels: "('chat',)",
            ..rev("chat0002", "'base0001'")
        },
        rev("chat0003", "'chat0002'"),
        Rev {
            labels: "'rag'",
            ..rev("rag00004", "'base0001'")
        },
        rev("rag00005", "'rag00004'"),
        rev("merge006", "('chat0003', 'rag00005')"),
        rev("next0007", "'merge006'"),
        Rev {
            labels: "'ops'",
            ..rev("ops00008", "None")
        },
        Rev {
            depends: "'rag00004'",
            ..rev("ops00009", "'ops00008'")
        },
        rev("side0010", "'next0007'"),
        rev("side0011", "'next0007'"),
    ]);
    same_answers(
        p.path(),
        &[
            (&[], "heads"),
            (&["chat0002"], "heads"),
            (&[], "ops@head"),
            (&[], "side0010"),
        ],
    );
    let (graph, _) = load_revisions(&[versions(p.path())], false).unwrap();
    assert_eq!(graph.merge_points(), ["merge006"]);
    let err = graph.resolve("head").unwrap_err().to_string();
    assert!(err.contains("multiple head revisions"), "{err}");
    assert_eq!(graph.resolve("ops@head").unwrap(), ["ops00009"]);
}

#[test]
fn depends_on_a_label_and_several_heads_match_alembic() {
    let p = project(&[
        Rev {
            labels: "('users',)",
            ..rev("u0000001", "None")
        },
        rev("u0000002", "'u0000001'"),
        rev("a0000003", "None"),
        Rev {
            depends: "'users'",
            ..rev("a0000004", "'a0000003'")
        },
        rev("a0000005", "'a0000004'"),
        rev("b0000006", "'a0000003'"),
    ]);
    same_answers(
        p.path(),
        &[(&[], "heads"), (&["a0000003"], "heads"), (&[], "a0000005")],
    );
}

fn graph_error(revs: &[Rev<'_>]) -> String {
    let p = project(revs);
    load_revisions(&[versions(p.path())], false)
        .unwrap_err()
        .to_string()
}

#[test]
fn broken_graphs_are_errors_that_name_the_files() {
    let missing = graph_error(&[rev("a0000001", "None"), rev("a0000002", "'zzzz9999'")]);
    assert!(
        missing.contains("zzzz9999, the down_revision of a0000002, is not present")
            && missing.contains("001_a0000002.py:"),
        "{missing}"
    );
    let dup = graph_error(&[rev("a0000001", "None"), rev("a0000001", "None")]);
    assert!(
        dup.contains("used by two files")
            && dup.contains("000_a0000001.py")
            && dup.contains("001_a0000001.py"),
        "{dup}"
    );
    let cycle = graph_error(&[
        rev("a0000001", "None"),
        rev("b0000002", "'c0000003'"),
        rev("c0000003", "'b0000002'"),
    ]);
    assert!(
        cycle.starts_with("cycle among revisions b0000002, c0000003"),
        "{cycle}"
    );
    let label = graph_error(&[
        Rev {
            labels: "'x'",
            ..rev("a0000001", "None")
        },
        Rev {
            labels: "'x'",
            ..rev("b0000002", "None")
        },
    ]);
    assert!(
        label
            .contains("branch label `x` of revision b0000002 is already used by revision a0000001"),
        "{label}"
    );
    let selfloop = graph_error(&[rev("a0000001", "'a0000001'")]);
    assert!(selfloop.contains("its own down_revision"), "{selfloop}");
}

#[test]
fn non_literals_are_warnings_with_file_and_line() {
    let p = project(&[Rev {
        labels: "(cli.EXPAND_BRANCH,)",
        ..rev("a0000001", "None")
    }]);
    let (graph, warnings) = load_revisions(&[versions(p.path())], false).unwrap();
    assert_eq!(graph.heads(), ["a0000001"]);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].line, 10);
    assert!(
        warnings[0]
            .message
            .contains("`branch_labels = (cli.EXPAND_BRANCH,)` is not a literal")
    );
}

fn migrator(root: &Path, url: &str) -> AlembicMigrator {
    let mut project = AlembicProject::locate(&[versions(root)], false).unwrap();
    project.command[0] = alembic_bin();
    AlembicMigrator {
        project,
        database_url: url.to_string(),
        lock_timeout: Duration::from_secs(30),
    }
}

#[tokio::test]
async fn upgrades_through_alembic_and_checks_alembic_version() {
    let pg = cluster();
    let url = pg.create_database("os").unwrap();
    let p = project(&[
        Rev {
            body: "op.execute('CREATE TABLE a (id int)')",
            ..rev("a0000001", "None")
        },
        Rev {
            body: "op.execute('CREATE TABLE b (id int)')",
            ..rev("b0000002", "'a0000001'")
        },
        Rev {
            body: "op.execute('CREATE TABLE c (id int)')",
            ..rev("c0000003", "'a0000001'")
        },
    ]);
    let m = migrator(p.path(), &url);
    assert_eq!(p.path(), m.project.workdir);
    let before = m.status("heads").await.unwrap();
    assert_eq!(before.current, Vec::<String>::new());
    assert_eq!(before.pending.len(), 3);
    assert!(!before.at_target());
    let sql = m.offline_sql("b0000002").await.unwrap();
    assert!(sql.contains("CREATE TABLE b (id int)"), "{sql}");
    let report = m.upgrade("b0000002").await.unwrap();
    assert_eq!(report.applied, ["a0000001", "b0000002"]);
    assert_eq!(
        query(&url, "SELECT version_num FROM alembic_version").await,
        ["b0000002"]
    );
    let report = m.upgrade("heads").await.unwrap();
    assert_eq!(report.applied, ["c0000003"]);
    assert_eq!(report.heads, ["b0000002", "c0000003"]);
    assert!(m.status("heads").await.unwrap().at_target());
    assert!(m.upgrade("heads").await.unwrap().applied.is_empty());
}

#[tokio::test]
async fn a_failing_revision_is_named_and_leaves_alembic_version_consistent() {
    let pg = cluster();
    let url = pg.create_database("user").unwrap();
    let p = project(&[
        Rev {
            body: "op.execute('CREATE TABLE a (id int)')",
            ..rev("a0000001", "None")
        },
        Rev {
            body: "op.execute('CREATE TABLE b (id int)')\n    op.execute('SELECT * FROM no_such_table')",
            ..rev("b0000002", "'a0000001'")
        },
    ]);
    let m = migrator(p.path(), &url);
    let err = m.upgrade("heads").await.unwrap_err();
    let Error::AlembicFailed {
        revision,
        path,
        now_at,
        output,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(revision.as_deref(), Some("b0000002"));
    assert!(path.as_ref().unwrap().ends_with("001_b0000002.py"));
    assert_eq!(now_at, &["a0000001"]);
    assert!(output.contains("no_such_table"), "{output}");
    assert_eq!(
        query(&url, "SELECT version_num FROM alembic_version").await,
        ["a0000001"]
    );
    assert_eq!(
        query(&url, "SELECT count(*) FROM pg_tables WHERE tablename = 'b'").await,
        ["0"]
    );
    // An unknown revision in the database fails closed.
    exec(&url, "UPDATE alembic_version SET version_num = 'feedbeef'").await;
    let err = m.status("heads").await.unwrap_err().to_string();
    assert!(err.contains("feedbeef"), "{err}");
}

/// A revision file in `dir` (any folder of the project).
fn write_rev(dir: &Path, id: &str, down: &str, labels: &str, depends: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join(format!("{id}.py")),
        format!(
            "\"\"\"{id} message\n\nRevision ID: {id}\n\"\"\"\nrevision = {id:?}\ndown_revision = {down}\nbranch_labels = {labels}\ndepends_on = {depends}\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
        ),
    )
    .unwrap();
}

/// Revisions kept in several folders, one per release and per branch, as
/// large projects keep them: `version_locations` and
/// `recursive_version_locations` in `alembic.ini`, `depends_on` across
/// folders. Preflight's graph gives Alembic's answers.
#[test]
fn version_locations_and_recursive_folders_match_alembic() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("alembic.ini"),
        "[alembic]\nscript_location = %(here)s/migrations\npath_separator = os\nversion_locations = %(here)s/migrations/versions/initial:migrations/versions/2024.1\nrecursive_version_locations = true\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("migrations")).unwrap();
    std::fs::write(root.join("migrations/env.py"), ENV_PY).unwrap();
    std::fs::write(root.join("migrations/script.py.mako"), "").unwrap();
    let v = root.join("migrations/versions");
    write_rev(&v.join("initial"), "base0001", "None", "None", "None");
    write_rev(&v.join("initial"), "base0002", "'base0001'", "None", "None");
    let expand = v.join("2024.1/expand");
    let contract = v.join("2024.1/contract");
    write_rev(&expand, "exp0003", "'base0002'", "('expand',)", "None");
    write_rev(&expand, "exp0004", "'exp0003'", "None", "None");
    // The contract branch waits for the expand branch, across folders.
    write_rev(
        &contract,
        "con0003",
        "'base0002'",
        "('contract',)",
        "'exp0004'",
    );
    write_rev(&contract, "con0004", "'con0003'", "None", "None");
    // A stray revision outside the locations is not part of the project.
    write_rev(&v.join("attic"), "old0001", "None", "None", "None");

    // Given the first folder, as a config's `dir` names it.
    let project = AlembicProject::locate(&[v.join("initial")], false).unwrap();
    assert!(project.recursive);
    assert_eq!(project.versions.len(), 2, "{:?}", project.versions);
    let (graph, warnings) = project.graph().unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(graph.revisions().len(), 6);
    assert_eq!(sorted(strings(graph.heads())), ["con0004", "exp0004"]);
    same_answers_of(
        root,
        &graph,
        &[
            (&[], "heads"),
            (&[], "contract@head"),
            (&["base0002"], "con0004"),
            (&["exp0003"], "heads"),
        ],
    );

    // Without `recursive_version_locations`, the subfolders are not read:
    // both tools then see only the initial revisions (and the 2024.1
    // folder, which holds no file of its own).
    let ini = std::fs::read_to_string(root.join("alembic.ini")).unwrap();
    std::fs::write(
        root.join("alembic.ini"),
        ini.replace("recursive_version_locations = true\n", ""),
    )
    .unwrap();
    let flat = AlembicProject::locate(&[v.join("initial")], false).unwrap();
    let (graph, _) = flat.graph().unwrap();
    assert_eq!(strings(graph.heads()), ["base0002"]);
    assert_eq!(first_tokens(&alembic(root, &["heads"])), ["base0002"]);
    // `--recursive` (or `recursive: true`) says it where the ini does not.
    let (graph, _) = AlembicProject::locate(&[v.join("initial")], true)
        .unwrap()
        .graph()
        .unwrap();
    assert_eq!(sorted(strings(graph.heads())), ["con0004", "exp0004"]);
}

/// A relative versions folder resolves against the current directory, and
/// Alembic runs beside the `alembic.ini` found above it.
#[test]
fn a_relative_versions_folder_finds_its_alembic_ini() {
    let p = project(&[rev("aaaa0001", "None")]);
    let here = std::env::current_dir().unwrap();
    let relative = pathdiff(&versions(p.path()), &here);
    let project = AlembicProject::locate(&[relative], false).unwrap();
    assert_eq!(
        project.workdir.canonicalize().unwrap(),
        p.path().canonicalize().unwrap()
    );
    assert!(project.versions[0].is_absolute());
}

/// `to` relative to `from` (both absolute), through `..` as needed.
fn pathdiff(to: &Path, from: &Path) -> PathBuf {
    let to: Vec<_> = to.components().collect();
    let from: Vec<_> = from.components().collect();
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}
