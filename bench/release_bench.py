#!/usr/bin/env python3
"""The freeze window of the local rehearsal, and each phase beside its
slowest single database.

On a copy of examples/mobius, every run does two releases on a fresh local
cluster (`preflight local reset` before each):

- `--jobs 1`: one database after another. Each backup and migration step
  runs alone, so its recorded duration is that module's own cost.
- `--jobs 4` (the default): independent databases at once.

The figures are read from the release's `state.json` (phase and step
durations, recorded by the engine). The freeze window is from the start of
the freeze phase to the end of smoke, when the workers are unfrozen; the
preflight phase (which starts the local cluster) is outside it.

    bench/release_bench.py [--runs 5]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MANIFEST = "release-manifests/2026-02-14-local.yaml"
WINDOW = ["freeze", "hard-gate", "soft-gate", "backup", "migrate", "verify", "deploy", "smoke"]


def stamp(text):
    # Python before 3.11 reads at most microseconds.
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}")


def release(preflight, root, jobs, env):
    config = os.path.join(root, "preflight.yaml")
    subprocess.run([preflight, "-q", "local", "reset"], cwd=root, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    p = subprocess.run(
        [preflight, "-q", "release", "run", "--config", config, "--manifest", os.path.join(root, MANIFEST),
         "--env", "local", "--jobs", str(jobs)],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    if p.returncode != 0:
        raise RuntimeError(f"release exited {p.returncode}: {p.stderr.decode()[-2000:]}")
    state_dir = os.path.join(root, ".preflight", "releases", "local")
    (release_id,) = os.listdir(state_dir)
    with open(os.path.join(state_dir, release_id, "state.json")) as f:
        state = json.load(f)
    phases = {p["phase"]: p for p in state["phases"]}
    first = phases[WINDOW[0]]
    last = phases[WINDOW[-1]]
    window = (stamp(last["started_at"]) - stamp(first["started_at"])).total_seconds() + last["duration"] / 1000
    figures = {"window": window}
    for name in ["backup", "migrate"]:
        phase = phases[name]
        figures[name] = phase["duration"] / 1000
        figures[name + " steps"] = {s["name"]: s["duration"] / 1000 for s in phase.get("steps", [])}
    return figures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-build", action="store_true", help="use target/release/preflight as it is")
    args = ap.parse_args()

    if not args.no_build:
        subprocess.run(["cargo", "build", "-q", "--release", "-p", "preflight-cli"], cwd=REPO, check=True)
    preflight = os.path.join(REPO, "target", "release", "preflight")
    env = dict(os.environ, PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ["PATH"])

    work = tempfile.mkdtemp(prefix="preflight-release-bench-")
    # initdb runs as `postgres` when this runs as root, and must reach the cluster folder.
    os.chmod(work, 0o755)
    root = os.path.join(work, "mobius")
    shutil.copytree(os.path.join(REPO, "examples", "mobius"), root,
                    ignore=shutil.ignore_patterns(".preflight", "__pycache__"))
    serial, concurrent = [], []
    try:
        for _ in range(args.runs):
            serial.append(release(preflight, root, 1, env))
            concurrent.append(release(preflight, root, 4, env))
        subprocess.run([preflight, "-q", "local", "reset"], cwd=root, env=env, check=True,
                       stdout=subprocess.DEVNULL)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    def slowest(key):
        # Each step's own cost, taken from the serial runs where it ran alone.
        names = serial[0][key + " steps"].keys()
        per_step = {n: statistics.median(r[key + " steps"][n] for r in serial) for n in names}
        name = max(per_step, key=per_step.get)
        return name, per_step[name]

    print(f"local rehearsal of examples/mobius, median of {args.runs} runs, release build\n")
    print("| | `--jobs 1` | `--jobs 4` | slowest single database | `--jobs 4` ÷ slowest |")
    print("| --- | ---: | ---: | --- | ---: |")
    for key in ["backup", "migrate"]:
        name, alone = slowest(key)
        c = med(concurrent, key)
        print(f"| {key} phase | {med(serial, key):.2f} s | {c:.2f} s | {name}: {alone:.2f} s | {c / alone:.2f}× |")
    print(f"| freeze window | {med(serial, 'window'):.2f} s | {med(concurrent, 'window'):.2f} s | | |")


if __name__ == "__main__":
    main()
