#!/usr/bin/env python3
"""500 HTTP probes against a local server that answers after 100 ms.

The server (asyncio, keep-alive, loopback) sleeps 100 ms per request. With
concurrency 50 the ideal wall time is ceil(500/50) x 100 ms = 1.0 s. Measured
from process start to exit, median of --runs, with peak RSS:

- `preflight verify` with 500 `http` probes in a generated preflight.yaml;
- hurl `--test --jobs 50` on 500 .hurl files, if bench/setup-tools built it;
- `xargs -P 50 curl`: a shell loop most people would write.

    cargo build --release -p preflight-cli && bench/verify_bench.py [--n 500] [--concurrency 50]
"""

import argparse
import asyncio
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TOOLS = os.path.join(HERE, ".tools")
DELAY = 0.1


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                break
            await asyncio.sleep(DELAY)
            body = b'{"status":"ok"}'
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionResetError):
        pass
    finally:
        writer.close()


def start_server():
    ready = threading.Event()
    port = {}

    def run():
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024))
        port["p"] = server.sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait()
    return port["p"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    port = start_server()
    base = f"http://127.0.0.1:{port}"
    ideal = math.ceil(args.n / args.concurrency) * DELAY
    work = tempfile.mkdtemp(prefix="verify-bench-")
    with open(os.path.join(work, "preflight.yaml"), "w") as f:
        f.write(f"platform: bench\nmodules:\n  api: {{}}\nenvironments:\n  local:\n    services:\n      api: {base}\nprobes:\n")
        for i in range(args.n):
            f.write(f"  - name: p{i}\n    kind: http\n    url: \"{{services.api}}/health?i={i}\"\n    json:\n      /status: ok\n")
    hurl_dir = os.path.join(work, "hurl")
    os.makedirs(hurl_dir)
    for i in range(args.n):
        with open(os.path.join(hurl_dir, f"p{i}.hurl"), "w") as f:
            f.write(f"GET {base}/health?i={i}\nHTTP 200\n[Asserts]\njsonpath \"$.status\" == \"ok\"\n")
    urls = os.path.join(work, "urls.txt")
    with open(urls, "w") as f:
        f.write("".join(f"{base}/health?i={i}\n" for i in range(args.n)))

    preflight = os.path.join(REPO, "target", "release", "preflight")
    if not os.path.exists(preflight):
        sys.exit("build first: cargo build --release -p preflight-cli")
    tools = [("preflight verify", [preflight, "verify", "--config", os.path.join(work, "preflight.yaml"),
                                   "--env", "local", "--concurrency", str(args.concurrency), "--quiet"])]
    hurl = os.path.join(TOOLS, "bin", "hurl")
    if os.path.exists(hurl) or shutil.which("hurl"):
        hurl = hurl if os.path.exists(hurl) else shutil.which("hurl")
        version = subprocess.run([hurl, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
        tools.append((f"hurl --test --jobs ({version.split()[1] if version else '?'})",
                      [hurl, "--test", "--jobs", str(args.concurrency)] +
                      sorted(os.path.join(hurl_dir, n) for n in os.listdir(hurl_dir))))
    tools.append(("xargs -P curl", ["sh", "-c", f"xargs -P {args.concurrency} -n 1 curl -sf -o /dev/null < {urls}"]))

    print(f"{args.n} probes, concurrency {args.concurrency}, server delay {int(DELAY*1000)} ms; ideal {ideal:.2f} s\n")
    print(f"| tool | wall (median of {args.runs}) | × ideal | peak RSS |")
    print("|---|---|---|---|")
    for name, argv in tools:
        # Each tool measured in a fresh child so its peak RSS is its own.
        walls, peaks = [], []
        for _ in range(args.runs):
            code = ("import resource,subprocess,sys,time;"
                    "s=time.perf_counter();p=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL);"
                    "w=time.perf_counter()-s;"
                    "print(p.returncode,w,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
            out = subprocess.run([sys.executable, "-c", code] + argv, capture_output=True, text=True).stdout.split()
            if out[0] != "0":
                sys.exit(f"{name} failed with {out[0]}")
            walls.append(float(out[1]))
            peaks.append(int(out[2]) / 1024)
        wall = statistics.median(walls)
        print(f"| {name} | {wall:.3f} s | {wall/ideal:.2f}× | {max(peaks):.1f} MiB |")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
