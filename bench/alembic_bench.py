#!/usr/bin/env python3
"""Alembic graphs: `preflight migrate heads` / `status` against `alembic heads`
/ `alembic current` on the same folder and database, in the same run.

The graph has N revisions: a main line with a two-revision side branch every
50 revisions, merged back (so branch points and merges are exercised). The
database is upgraded to head once (by Alembic); then each command is timed
from process start to exit, median of --runs.

    bench/setup-tools && bench/alembic_bench.py [--n 1000] [--runs 10]
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
sys.path.insert(0, HERE)
from pgcluster import Cluster  # noqa: E402

ENV_PY = """import os
from alembic import context
from sqlalchemy import create_engine
engine = create_engine(os.environ['DATABASE_URL'].replace('postgres://', 'postgresql+psycopg2://', 1))
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
"""


def generate(root, n):
    versions = os.path.join(root, "migrations", "versions")
    os.makedirs(versions)
    with open(os.path.join(root, "alembic.ini"), "w") as f:
        f.write("[alembic]\nscript_location = %(here)s/migrations\n")
    with open(os.path.join(root, "migrations", "env.py"), "w") as f:
        f.write(ENV_PY)
    open(os.path.join(root, "migrations", "script.py.mako"), "w").close()
    made = 0
    prev = None

    def write(rev, down):
        nonlocal made
        made += 1
        with open(os.path.join(versions, f"{rev}_step.py"), "w") as f:
            f.write(
                f'"""step {rev}"""\nfrom alembic import op\n\nrevision: str = {rev!r}\n'
                f"down_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
                "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
            )

    i = 0
    while made < n:
        i += 1
        rev = f"{i:012x}"
        if i % 50 == 0 and made + 4 <= n:
            a, b = f"{i:08x}aaaa", f"{i:08x}bbbb"
            write(rev, prev)
            write(a, rev)
            write(b, a)
            merge = f"{i:08x}cccc"
            write(merge, (b, rev + "0"))
            # the main line continues beside the branch, then they merge
            write(rev + "0", rev)
            prev = merge
        else:
            write(rev, prev)
            prev = rev
    return os.path.join(root, "migrations", "versions")


def timed(cmd, env=None, cwd=None):
    started = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if p.returncode != 0:
        raise RuntimeError(f"{cmd}: {p.stderr.decode()[-2000:]}")
    return elapsed, p.stdout.decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "preflight-cli"], cwd=REPO, check=True)
    preflight = os.path.join(REPO, "target", "release", "preflight")
    alembic = os.path.join(REPO, ".venv", "bin", "alembic")
    work = tempfile.mkdtemp(prefix="preflight-alembic-bench-")
    versions = generate(work, args.n)
    pg = Cluster()
    try:
        url = pg.fresh("bench")
        env = dict(os.environ, DATABASE_URL=url)
        subprocess.run([alembic, "upgrade", "heads"], cwd=work, env=env, check=True, capture_output=True)
        rows = {}

        def bench(name, cmd, cwd=None):
            times, out = [], ""
            for _ in range(args.runs):
                t, out = timed(cmd, env=env, cwd=cwd)
                times.append(t)
            rows[name] = statistics.median(times)
            return out

        ours = bench("preflight migrate heads", [preflight, "migrate", "heads", "--kind", "alembic", "--dir", versions])
        theirs = bench("alembic heads", [alembic, "heads"], cwd=work)
        assert sorted(l.split()[0] for l in ours.splitlines()) == sorted(l.split()[0] for l in theirs.splitlines()), (ours, theirs)
        bench("preflight migrate status", [preflight, "migrate", "status", "--kind", "alembic", "--dir", versions, "--database-url", url])
        bench("alembic current", [alembic, "current"], cwd=work)
        bench("alembic upgrade heads (no-op)", [alembic, "upgrade", "heads"], cwd=work)
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"N = {args.n} revisions (branches and merges every 50), median of {args.runs} runs\n")
    print("| command | time |")
    print("| --- | ---: |")
    for name, t in rows.items():
        print(f"| {name} | {t * 1000:.1f} ms |")
    print(f"\nheads: {rows['alembic heads'] / rows['preflight migrate heads']:.0f}× faster than alembic heads")
    print(f"status: {rows['alembic current'] / rows['preflight migrate status']:.0f}× faster than alembic current")


if __name__ == "__main__":
    main()
