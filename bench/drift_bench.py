#!/usr/bin/env python3
"""Schema drift: Preflight's catalog comparison beside migra, same run.

Three measurements, each the median of --runs, from process start to exit:
  * two live databases with a two-table schema and a few differences:
    `preflight db diff --from A --to B` and `migra --unsafe A B`;
  * the same at --tables tables and --tables functions (each table with
    five columns, a primary key, an index and a check);
  * the whole check on that large schema through a platform config:
    `preflight db diff --config C --env bench`, which also builds the
    schema from the migrations in a throwaway database (the shadow).

    scripts/setup && bench/drift_bench.py [--tables 300] [--runs 5] [--no-build]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from pgcluster import Cluster  # noqa: E402

PREFLIGHT = os.path.join(REPO, "target", "release", "preflight")
MIGRA = os.path.join(REPO, ".venv", "bin", "migra")

SMALL = """
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);
CREATE TABLE jobs (id bigserial PRIMARY KEY, owner bigint REFERENCES users (id), state text);
CREATE INDEX jobs_state ON jobs (state);
"""
SMALL_CHANGES = """
ALTER TABLE users ADD COLUMN phone text;
ALTER TABLE jobs ALTER COLUMN state SET NOT NULL;
DROP INDEX jobs_state;
"""


def large(n):
    parts = []
    for i in range(n):
        parts.append(
            f"CREATE TABLE t{i} (id bigint PRIMARY KEY, a text NOT NULL, b integer DEFAULT 0, "
            f"c timestamptz, d jsonb, CONSTRAINT t{i}_b CHECK (b >= 0));\n"
            f"CREATE INDEX t{i}_a ON t{i} (a);\n"
            f"CREATE FUNCTION f{i}(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT x + {i} $$;\n"
        )
    return "".join(parts)


LARGE_CHANGES = """
ALTER TABLE t7 ADD COLUMN hotfix text;
CREATE OR REPLACE FUNCTION f11(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT x $$;
DROP INDEX t13_a;
CREATE FUNCTION manual_rpc() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
"""


def psql(cluster, db, sql):
    path = tempfile.mktemp(suffix=".sql")
    with open(path, "w") as f:
        f.write(sql)
    subprocess.run(
        [os.path.join(cluster.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", cluster.url(db), "-f", path],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    os.remove(path)


def timed(cmd, runs, ok=(0, 1), env=None):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        times.append(time.perf_counter() - started)
        if p.returncode not in ok:
            raise SystemExit(f"{cmd[0]} failed ({p.returncode}): {p.stderr.decode()[-2000:]}")
    return statistics.median(times)


def pair(cluster, name, schema, changes):
    a, b = f"{name}_a", f"{name}_b"
    for db in (a, b):
        cluster.fresh(db)
        psql(cluster, db, schema)
    psql(cluster, b, changes)
    return cluster.url(a), cluster.url(b)


def platform(root, cluster, n):
    """A platform with one SQL module whose migrations build the large schema."""
    os.makedirs(os.path.join(root, "app", "db"))
    statements = large(n).split(";\n")
    per_file = max(1, len(statements) // 10)
    for k in range(10):
        body = ";\n".join(statements[k * per_file : (k + 1) * per_file if k < 9 else None]).strip()
        if body:
            with open(os.path.join(root, "app", "db", f"{k + 1:03d}_part.sql"), "w") as f:
                f.write(body + ";\n")
    live = cluster.fresh("platform_live")
    with open(os.path.join(root, "preflight.yaml"), "w") as f:
        f.write(
            "platform: bench\n"
            "databases:\n  app: {}\n"
            "modules:\n  app:\n    repo: app\n    database: app\n    migrations:\n      kind: sql\n      dir: db\n"
            f"environments:\n  bench:\n    checkout: skip\n    databases:\n      app: \"{live}\"\n"
        )
    config = os.path.join(root, "preflight.yaml")
    subprocess.run(
        [PREFLIGHT, "-q", "migrate", "up", "--config", config, "--env", "bench", "--module", "app", "--no-backup"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    psql(cluster, "platform_live", LARGE_CHANGES)
    return config


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-build", action="store_true", help="use target/release/preflight as it is")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "-q", "--release", "-p", "preflight-cli"], cwd=REPO, check=True)
    for tool in (PREFLIGHT, MIGRA):
        if not os.path.exists(tool):
            raise SystemExit(f"{tool} is missing (scripts/setup installs migra; build the release binary)")
    cluster = Cluster()
    root = tempfile.mkdtemp(prefix="preflight-drift-bench-")
    # The shadow cluster's server runs as `postgres` when this runs as root.
    os.chmod(root, 0o755)
    try:
        rows = []
        for name, schema, changes in [
            ("two tables", SMALL, SMALL_CHANGES),
            (f"{args.tables} tables + {args.tables} functions", large(args.tables), LARGE_CHANGES),
        ]:
            key = "small" if name == "two tables" else "large"
            a, b = pair(cluster, key, schema, changes)
            ours = timed([PREFLIGHT, "db", "diff", "--from", a, "--to", b], args.runs)
            migra = timed(
                [MIGRA, "--unsafe", a.replace("postgres://", "postgresql://"), b.replace("postgres://", "postgresql://")],
                args.runs,
                ok=(0, 2),  # migra exits 2 when it found differences
            )
            rows.append((name, "live vs live", ours, migra))
        config = platform(root, cluster, args.tables)
        cmd = [PREFLIGHT, "db", "diff", "--config", config, "--env", "bench"]
        # The first run starts the project's local cluster for the shadows.
        timed(cmd, 1)
        whole = timed(cmd, args.runs)
        rows.append((f"{args.tables} tables + {args.tables} functions", "whole check (shadow from 10 files)", whole, None))
        subprocess.run([PREFLIGHT, "local", "stop", "--config", config], stdout=subprocess.DEVNULL)
        print(f"| schema | comparison | Preflight | migra 3.0 | ratio |")
        print("| --- | --- | ---: | ---: | ---: |")
        for name, what, ours, migra in rows:
            if migra is None:
                print(f"| {name} | {what} | {ours * 1000:.0f} ms | — | — |")
            else:
                print(f"| {name} | {what} | {ours * 1000:.0f} ms | {migra * 1000:.0f} ms | {migra / ours:.0f}× |")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
