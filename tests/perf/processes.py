"""The processes of the lifecycle benchmark: the sandbox in one of its own, the CPU each
process (web, cluster, sandbox, this test database's backends) uses, and a server and a
measuring script for the 500 MB download."""

import http.server
import json
import os
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path

from django.db import connection

from tests.generations.clusters import ROOT, Call

BIG_FILE = 500 * 2**20


# The vendors' machines are not ours: the sandbox that stands in for them runs at a lower
# priority (BENCH_SANDBOX_NICE, 10 unless set; 0 to let it compete), so that on two
# cores its renders take the time the app leaves instead of delaying the app's steps.
SANDBOX_NICE = int(os.environ.get("BENCH_SANDBOX_NICE", "10"))


class SandboxProcess:
    """tests/perf/sandbox_server.py in its own process group, on the test database, at
    SANDBOX_NICE."""

    def __init__(self, folder: Path, env: dict, run_seconds: tuple[float, float]):
        self.calls_file = folder / "sandbox-calls.json"
        self.log = open(folder / "sandbox.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(  # noqa: S603 - our own script
            ["nice", "-n", str(SANDBOX_NICE)]  # execs python: the pid stays the sandbox's
            + [sys.executable, "-m", "tests.perf.sandbox_server", str(self.calls_file)]
            + [str(bound) for bound in run_seconds],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            start_new_session=True,
        )
        line = self.process.stdout.readline().decode().split()
        assert line[:1] == ["listening"], f"the sandbox did not start: {line}"
        self.url = line[1]
        self.pgid = self.process.pid

    def stop(self) -> list[Call]:
        """Stop it; the vendor calls it answered."""
        if self.process.poll() is None:
            os.killpg(self.pgid, signal.SIGTERM)
            self.process.wait(timeout=30)
        self.log.close()
        if not self.calls_file.exists():
            return []
        return [Call(*call, 0.0) for call in json.loads(self.calls_file.read_text())]


def as_shipped(settings) -> dict:
    """The environment of a production process (DEBUG off), with this run's secrets."""
    return {
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
    }


def cpu_seconds(match, reaped=False) -> float:
    """User + system CPU of the running processes for which match(pid, comm, pgid) holds;
    `reaped` adds that of their children that ended (django-q2 replaces a worker after
    a number of tasks, and the sentinel that waited for it keeps its count)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        if match(int(entry.name), comm, int(fields[2])):
            total += int(fields[11]) + int(fields[12])
            if reaped:
                total += int(fields[13]) + int(fields[14])
    return total / tick


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK"), sum(fields) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class DatabaseCpu:
    """CPU of this test database's backends, sampled while they live: the server also
    runs other databases, and a backend's count goes when its connection ends."""

    def __init__(self):
        self.name = connection.settings_dict["NAME"]
        self.seen: dict[int, float] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        while not self.stopped.wait(0.5):
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    if f" {self.name} ".encode() not in (entry / "cmdline").read_bytes():
                        continue
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                self.seen[int(entry.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf(
                    "SC_CLK_TCK"
                )

    def stop(self) -> float:
        self.stopped.set()
        self.thread.join()
        return sum(self.seen.values())


class CpuClock:
    """CPU seconds by process since it was made: this one (web), a cluster, the sandbox
    and the database, and the machine as a whole."""

    def __init__(self, sandbox_pgid: int):
        self.sandbox_pgid = sandbox_pgid
        self.began = self.read(cluster_pgid=None)
        self.database = DatabaseCpu() if connection.vendor == "postgresql" else None

    def read(self, cluster_pgid) -> dict:
        return {
            "web": own_cpu(),
            "cluster": cpu_seconds(lambda pid, comm, pgid: pgid == cluster_pgid, reaped=True),
            "sandbox": cpu_seconds(lambda pid, comm, pgid: pgid == self.sandbox_pgid),
            "machine": machine_busy(),
        }

    def since(self, cluster_pgid) -> dict:
        now = self.read(cluster_pgid)
        spent = {name: now[name] - self.began[name] for name in ("web", "sandbox")}
        spent["database"] = self.database.stop() if self.database else 0.0
        spent["cluster"] = now["cluster"]  # it started after the clock
        busy, total = (a - b for a, b in zip(now["machine"], self.began["machine"], strict=True))
        spent["machine"] = busy / total
        return spent


class BigMP4(http.server.BaseHTTPRequestHandler):
    """A 500 MB MP4, made on the fly: a real `ftyp` box, then zeros."""

    FTYP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    CHUNK = b"\x00" * 2**20

    def do_GET(self):
        size = 2**20 if self.path.endswith("?warm") else BIG_FILE
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        left = size
        self.wfile.write(self.FTYP)
        left -= len(self.FTYP)
        while left:
            piece = self.CHUNK[: min(left, len(self.CHUNK))]
            self.wfile.write(piece)
            left -= len(piece)

    def log_message(self, *args):
        pass


# Runs in a process of its own, so that its peak RSS is the download's alone.
MEASURE = """
import json, os, resource, sys, tempfile, time
import django
django.setup()
from generations.media import fetch

url = sys.argv[1]

def peak_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

with tempfile.TemporaryFile() as out:  # warm up on 1 MB: imports, buffers, first connection
    fetch.fetch_to_file(url + "?warm", out, max_bytes=600 * 2**20, deadline_seconds=300)
before = peak_kb()
began = time.monotonic()
with tempfile.TemporaryFile() as out:
    fetched = fetch.fetch_to_file(url, out, max_bytes=600 * 2**20, deadline_seconds=300)
seconds = time.monotonic() - began
print(json.dumps({"bytes": fetched.bytes, "before_kb": before, "after_kb": peak_kb(),
                  "seconds": seconds}))
"""
