#!/usr/bin/env python3
"""Migration runners at N small migrations, on a fresh database each time.

Each migration is `CREATE TABLE t_i (id bigserial primary key, v text);
INSERT INTO t_i(v) VALUES ('x');`. For every tool: apply all, a no-op
re-run, and status, timed from process start to exit (median of --runs).
The floor is every file wrapped in BEGIN/COMMIT, concatenated, and sent by
`psql -X -q -c` as one message: only the server's own work is left.

    bench/setup-tools && bench/migrate_bench.py [--n 1000] [--runs 3] [--tools sqlx,dbmate,refinery,alembic]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TOOLS = os.path.join(HERE, ".tools")
sys.path.insert(0, HERE)
from pgcluster import Cluster  # noqa: E402

SQL = "CREATE TABLE t_{i} (id bigserial primary key, v text);\nINSERT INTO t_{i}(v) VALUES ('x');\n"


FLOOR_PY = (
    "import sys, psycopg2\n"
    "c = psycopg2.connect(sys.argv[1]); c.autocommit = True\n"
    "c.cursor().execute(open(sys.argv[2]).read())\n"
)


def generate(root, n):
    layouts = {k: os.path.join(root, k) for k in ["preflight", "sqlx", "dbmate", "refinery", "alembic"]}
    for d in layouts.values():
        os.makedirs(d)
    width = len(str(n))
    for i in range(1, n + 1):
        body = SQL.format(i=i)
        with open(os.path.join(layouts["preflight"], f"{i:0{width}d}_t_{i}.sql"), "w") as f:
            f.write(body)
        with open(os.path.join(layouts["sqlx"], f"{i}_t_{i}.sql"), "w") as f:
            f.write(body)
        with open(os.path.join(layouts["dbmate"], f"{i:0{width}d}_t_{i}.sql"), "w") as f:
            f.write("-- migrate:up\n" + body + "\n-- migrate:down\n")
        with open(os.path.join(layouts["refinery"], f"V{i}__t_{i}.sql"), "w") as f:
            f.write(body)
    alembic = layouts["alembic"]
    os.makedirs(os.path.join(alembic, "versions"))
    with open(os.path.join(alembic, "alembic.ini"), "w") as f:
        f.write("[alembic]\nscript_location = %(here)s\n")
    with open(os.path.join(alembic, "env.py"), "w") as f:
        f.write(
            "import os\nfrom alembic import context\nfrom sqlalchemy import create_engine\n"
            "engine = create_engine(os.environ['ALEMBIC_URL'])\n"
            "with engine.connect() as connection:\n"
            "    context.configure(connection=connection, transaction_per_migration=True)\n"
            "    with context.begin_transaction():\n"
            "        context.run_migrations()\n"
        )
    with open(os.path.join(alembic, "script.py.mako"), "w") as f:
        f.write("")
    prev = None
    for i in range(1, n + 1):
        rev = f"r{i:06d}"
        with open(os.path.join(alembic, "versions", f"{rev}_t_{i}.py"), "w") as f:
            f.write(
                f"from alembic import op\nrevision = {rev!r}\ndown_revision = {prev!r}\n"
                "branch_labels = None\ndepends_on = None\n\n"
                f"def upgrade():\n    op.execute({SQL.format(i=i)!r})\n\n"
                "def downgrade():\n    pass\n"
            )
        prev = rev
    floor = "".join("BEGIN;\n" + SQL.format(i=i) + "COMMIT;\n" for i in range(1, n + 1))
    return layouts, floor


def timed(cmd, env=None, cwd=None, ok=(0,)):
    started = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if p.returncode not in ok:
        raise RuntimeError(f"{cmd[0]} exited {p.returncode}: {p.stderr.decode()[-2000:]}")
    return elapsed


def tool(path):
    return path if path and os.path.exists(path) else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tools", default="sqlx,dbmate,refinery,alembic",
                    help="comma-separated tools to compare with Preflight (default: all installed)")
    ap.add_argument("--no-build", action="store_true", help="use target/release/preflight as it is")
    args = ap.parse_args()
    wanted = set(args.tools.split(","))

    if not args.no_build:
        subprocess.run(["cargo", "build", "-q", "--release", "-p", "preflight-cli"], cwd=REPO, check=True)
    preflight = os.path.join(REPO, "target", "release", "preflight")
    psql = shutil.which("psql")
    sqlx = "sqlx" in wanted and tool(os.path.join(TOOLS, "bin", "sqlx"))
    refinery = "refinery" in wanted and tool(os.path.join(TOOLS, "bin", "refinery"))
    dbmate = "dbmate" in wanted and tool(os.path.join(TOOLS, "npm", "node_modules", "@dbmate", "linux-x64", "bin", "dbmate"))
    alembic = "alembic" in wanted and tool(os.path.join(REPO, ".venv", "bin", "alembic"))

    work = tempfile.mkdtemp(prefix="preflight-bench-")
    layouts, floor = generate(work, args.n)
    python = os.path.join(REPO, ".venv", "bin", "python")
    floor_file = os.path.join(work, "floor.sql")
    with open(floor_file, "w") as f:
        f.write(floor)
    pg = Cluster()
    results = {}

    def record(name, phase, seconds):
        results.setdefault(name, {}).setdefault(phase, []).append(seconds)

    try:
        for run in range(args.runs):
            url = pg.fresh("bench")
            if len(floor) < 100_000:
                record("floor (one message)", "apply", timed([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", floor]))
            else:
                # Too long for one argv string: psycopg2 sends it as one simple-query message.
                record("floor (one message)", "apply", timed([python, "-c", FLOOR_PY, url, floor_file]))

            url = pg.fresh("bench")
            base = [preflight, "-q", "migrate"]
            src = ["--kind", "sql", "--dir", layouts["preflight"], "--database-url", url]
            record("preflight", "apply", timed(base + ["up", "--no-backup"] + src))
            record("preflight", "no-op", timed(base + ["up", "--no-backup"] + src))
            record("preflight", "status", timed(base + ["status"] + src))

            if sqlx:
                url = pg.fresh("bench")
                s = ["--source", layouts["sqlx"], "--database-url", url]
                record("sqlx-cli 0.9.0", "apply", timed([sqlx, "migrate", "run"] + s))
                record("sqlx-cli 0.9.0", "no-op", timed([sqlx, "migrate", "run"] + s))
                record("sqlx-cli 0.9.0", "status", timed([sqlx, "migrate", "info"] + s))
            if dbmate:
                url = pg.fresh("bench") + "?sslmode=disable"
                d = [dbmate, "--url", url, "--migrations-dir", layouts["dbmate"], "--no-dump-schema"]
                record("dbmate", "apply", timed(d + ["up"]))
                record("dbmate", "no-op", timed(d + ["up"]))
                record("dbmate", "status", timed(d + ["status"], ok=(0, 1)))
            if refinery:
                url = pg.fresh("bench")
                env = dict(os.environ, DATABASE_URL=url)
                r = [refinery, "migrate", "-e", "DATABASE_URL", "-p", layouts["refinery"]]
                record("refinery_cli", "apply", timed(r, env=env))
                record("refinery_cli", "no-op", timed(r, env=env))
            if alembic:
                url = pg.fresh("bench")
                env = dict(os.environ, ALEMBIC_URL=url.replace("postgres://", "postgresql+psycopg2://"))
                a = [alembic, "-c", os.path.join(layouts["alembic"], "alembic.ini")]
                record("Alembic", "apply", timed(a + ["upgrade", "head"], env=env))
                record("Alembic", "no-op", timed(a + ["upgrade", "head"], env=env))
                record("Alembic", "status", timed(a + ["current"], env=env))
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)

    floor_apply = statistics.median(results["floor (one message)"]["apply"])
    print(f"N = {args.n} migrations, median of {args.runs} runs, fresh database each run\n")
    print("| tool | apply | vs floor | no-op re-run | status |")
    print("| --- | ---: | ---: | ---: | ---: |")

    def fmt(v):
        if v is None:
            return "—"
        return f"{v:.2f} s" if v >= 1 else f"{v * 1000:.0f} ms"

    for name, phases in results.items():
        med = {k: statistics.median(v) for k, v in phases.items()}
        ratio = med["apply"] / floor_apply
        print(f"| {name} | {fmt(med.get('apply'))} | {ratio:.2f}× | {fmt(med.get('no-op'))} | {fmt(med.get('status'))} |")


if __name__ == "__main__":
    main()
