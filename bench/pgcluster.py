"""A throwaway PostgreSQL cluster for the benchmarks (initdb + pg_ctl in a
temp dir, as the `postgres` user when run as root), with default durability
settings: fsync and synchronous_commit stay on, as on a real server."""

import glob
import os
import shutil
import socket
import subprocess
import tempfile


def pg_bin():
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2])):
        last = d
    return last


class Cluster:
    def __init__(self):
        self.bin = pg_bin()
        self.dir = tempfile.mkdtemp(prefix="preflight-bench-pg-")
        self.root = os.getuid() == 0
        if self.root:
            shutil.chown(self.dir, "postgres")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        data = os.path.join(self.dir, "data")
        self._run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-instructions")
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c max_connections=50"
        self._run("pg_ctl", "-D", data, "-l", os.path.join(self.dir, "log"), "-o", opts, "-w", "start")
        self.data = data

    def _run(self, prog, *args):
        cmd = [os.path.join(self.bin, prog), *args]
        if self.root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd="/")

    def url(self, db):
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def fresh(self, db):
        args = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        subprocess.run([os.path.join(self.bin, "dropdb"), *args, "--if-exists", db], check=True)
        subprocess.run([os.path.join(self.bin, "createdb"), *args, db], check=True)
        return self.url(db)

    def stop(self):
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
