"""A throwaway PostgreSQL server for the review store's tests: initdb into a temp directory, a
unix socket there (no TCP port opened), fsync off; stopped and deleted at the end.

initdb refuses to run as root, so as root the server runs as `nobody` (runuser, else su). The
binaries are found with `pg_config --bindir`, then in Debian's /usr/lib/postgresql/N/bin, then on
PATH; .ci/run installs Debian's `postgresql` when none is there.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg


def find_bindir() -> Path | None:
    candidates = []
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        candidates.append(out)
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
                         reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).resolve().parent))
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


class PostgresServer:
    def __init__(self, bindir: Path, fsync: bool = False) -> None:
        self.bindir = bindir
        self.fsync = fsync  # off for tests; on for benchmarks, as a real server runs
        self.dir = Path(tempfile.mkdtemp(prefix="jiyu-pg-"))
        self.data = self.dir / "data"
        self.port = 5432 + uuid.uuid4().int % 20000  # names the socket file only: nothing listens on TCP
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
            self.as_user = ["runuser", "-u", "nobody", "--"] if shutil.which("runuser") else None

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_user is None:  # root without runuser
            cmd = ["su", "nobody", "-s", "/bin/sh", "-c", " ".join(f"'{a}'" for a in cmd)]
        else:
            cmd = self.as_user + cmd
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=self.dir, check=False)
        if done.returncode:
            log = (self.dir / "log").read_text(errors="replace") if (self.dir / "log").exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr}{done.stdout}\n{log}")

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "jiyu", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        options = f"-k {self.dir} -p {self.port} -c listen_addresses='' -c fsync={'on' if self.fsync else 'off'} -c max_connections=50"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "-t", "60", "start")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def new_database(self) -> str:
        """A fresh empty database; its SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host=str(self.dir), port=self.port, user="jiyu", dbname="postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://jiyu@/{name}?host={self.dir}&port={self.port}"
