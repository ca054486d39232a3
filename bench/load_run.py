"""
One measured load run: Voicehub started as production starts it, Locust's mix of users
(bench/locustfile.py) against it, and the figures that say whether it held.

    .venv/bin/pip install -r requirements-bench.txt          # once: locust and websocket-client
    .venv/bin/python bench/load_run.py                        # 10 min, 8 users, the embedded default
    .venv/bin/python bench/load_run.py --scale --users 16     # PostgreSQL + Redis, 2 web processes, a jobs_worker
    .venv/bin/python bench/load_run.py --duration 60s --users 8
    .venv/bin/python bench/load_run.py --scale --duration 60m --users 6    # a soak: see the growth table
    .venv/bin/python bench/load_run.py --growth-of /tmp/voicehub-load-…    # a finished run's growth table again

The servers run with production settings (VOICEHUB_ENV=production, DEBUG off, the static
files built by collectstatic as the Dockerfile builds them, SECURE_SSL_REDIRECT on) behind
an imaginary TLS proxy: Locust sends X-Forwarded-Proto and a per-user X-Forwarded-For,
and the servers trust one proxy (TRUSTED_PROXY_COUNT=1), as docs/deploy.md says to behind
a load balancer. Everything lives in a fresh run folder (--out, default /tmp/voicehub-load-*):
its own database, MEDIA_ROOT and static files, so the ledger and orphan checks see this
run only.

- Embedded (the default): SQLite, the local-memory cache and the in-memory channel layer,
  one web process: the Dockerfile's command line (voicehub_site.serve, daphne's own
  arguments) with the long-form job worker as a thread of the same process, as
  `manage.py up` runs it (one model in memory, job progress on the in-memory layer).
- --scale: a fresh PostgreSQL database (dropped at the end) and a Redis database number
  of its own (--redis-db, not 0; it must be empty, and is flushed at the end), two web
  processes started exactly as the Dockerfile's CMD on two ports, and one
  `manage.py jobs_worker` (docker-compose.yml's worker settings). Locust spreads its
  users over the two ports round-robin, as a load balancer would.

Then bench/load_setup.py makes one tenant per user (organization, key, signed-in
session) and Locust runs headless for --duration; users finish the task they are in
(--stop-timeout) so that what a client counted as received is what it received. Every
5 s each server process's CPU %, RSS and open file descriptors are read from /proc (and
Locust's own, to show whether the load generator kept up), and with --scale Redis's
DBSIZE. At the end it prints requests/s, p50/p95/p99 of first audio and of the whole
request per kind, errors by status and code, CPU and memory over time (each process's
min/mean/max, and RSS in the first minute against the last), and the ledger check: the
characters settled for the load organizations against those the clients received whole,
`reserved` usage rows left over, and audio files no row references. It stops every
process it started, drops the database and flushes its Redis database, and deletes the
run's database and media (--keep keeps them); the CSV files and logs stay in the run folder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB_ARGS = ["--bind", "127.0.0.1", "--port", "{port}", "voicehub_site.asgi:application"]  # the Dockerfile's CMD
SAMPLE_SECONDS = 5
# A soak's growth is judged after this much of the run (the model loads, caches and pools fill).
GROWTH_WARMUP_SECONDS = 600
# The locustfile's names of requests that synthesize (their kinds, not the reads around them).
SYNTHESIS_NAMES = ("/api/v1/tts", "/v1/audio/speech", "/ws/tts/", "long-form job")
# What the parent's environment may say that this run decides for itself.
DECIDED_HERE = (
    "DATABASE_URL",
    "REDIS_URL",
    "MEDIA_ROOT",
    "STATIC_ROOT",
    "DEBUG",
    "VOICEHUB_ENV",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SECURE_SSL_REDIRECT",
    "TRUSTED_PROXY_COUNT",
    "VOICEHUB_JOB_WORKER_IN_PROCESS",
    "VOICEHUB_STORAGE",
    "DATABASE_CONN_MAX_AGE",
    "DJANGO_SETTINGS_MODULE",
)


# -- the embedded server: production's command line plus `up`'s worker thread ------------------------------


def serve_embedded(argv: list[str]) -> None:
    """voicehub_site.serve with `argv`, after starting the in-process job worker exactly as `manage.py up` does."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")
    import django

    django.setup()
    from synthesis.management.commands.jobs_worker import start_in_process_worker
    from voicehub_site.serve import SafeCommandLineInterface

    start_in_process_worker()
    sys.argv = ["voicehub_site.serve", *argv]
    SafeCommandLineInterface.entrypoint()


# -- processes ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_checked(command: list[str], env: dict, what: str, log: Path) -> str:
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    log.write_text(result.stdout + result.stderr)
    if result.returncode:
        raise SystemExit(f"{what} failed ({result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}")
    return result.stdout


class Process:
    """A server process this run started, its output in the run folder."""

    def __init__(self, name: str, command: list[str], env: dict, log: Path):
        self.name, self.command, self.log = name, command, log
        with open(log, "w") as output:
            self.popen = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.terminate()  # SIGTERM: daphne and the worker finish what they can
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def wait_ready(url: str, process: Process, timeout: float = 600) -> float:
    """Poll /readyz until 200 (its first probe starts loading the model); seconds it took."""
    started = time.monotonic()
    request = urllib.request.Request(url + "/readyz", headers={"X-Forwarded-Proto": "https"})
    while time.monotonic() - started < timeout:
        if process.popen.poll() is not None:
            raise SystemExit(
                f"{process.name} exited with {process.popen.returncode}:\n{process.log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(request, timeout=5):
                return time.monotonic() - started
        except (urllib.error.URLError, OSError):
            time.sleep(1)  # a separate process: its socket is the only thing to wait on
    raise SystemExit(f"{url} was not ready after {timeout:.0f} s")


# -- sampling -----------------------------------------------------------------------------------------------


def proc_figures(pid: int) -> tuple[float, float, int] | None:
    """(CPU seconds so far, RSS in MiB, open file descriptors) of `pid`, from /proc; None once it has gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        rss_kb = next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        return None
    return cpu, rss_kb / 1024, fds


class Sampler(threading.Thread):
    """Every SAMPLE_SECONDS: each process's CPU % (of one core), RSS and FDs; Redis's key count with --scale."""

    def __init__(self, pids: dict[str, int], redis_client=None):
        super().__init__(daemon=True)
        self.pids, self.redis = dict(pids), redis_client
        self.rows: list[dict] = []
        self.stopping = threading.Event()
        self.started = time.monotonic()

    def watch(self, name: str, pid: int) -> None:
        self.pids[name] = pid

    def run(self) -> None:
        last = {name: (time.monotonic(), proc_figures(pid)) for name, pid in self.pids.items()}
        while not self.stopping.wait(SAMPLE_SECONDS):
            now = time.monotonic()
            row = {"t": round(now - self.started, 1)}
            for name, pid in list(self.pids.items()):
                figures = proc_figures(pid)
                then, before = last.get(name, (now, None))
                last[name] = (now, figures)
                if figures is None or before is None or now <= then:
                    continue
                row[name] = {"cpu": (figures[0] - before[0]) / (now - then) * 100, "rss": figures[1], "fds": figures[2]}
            if self.redis is not None:
                try:
                    row["redis_keys"] = self.redis.dbsize()
                except Exception as error:  # a failed probe is a gap in the series, not the end of the run
                    row["redis_error"] = type(error).__name__
            self.rows.append(row)

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


# -- the report ---------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def seconds(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.2f}"


def error_label(text: str) -> str:
    """CatchResponseError('429 rate_limited') -> 429 rate_limited."""
    match = re.fullmatch(r"\w+\((['\"])(.*)\1\)", text)
    return match.group(2) if match else text


def report_requests(counts: dict, wall: float) -> None:
    requests = [row for row in counts.get("stats", []) if row["type"] != "first audio"]
    total = sum(r["requests"] for r in requests)
    failed = sum(r["failures"] for r in requests)
    samples = counts.get("samples", {})
    synthesis = [r for r in requests if r["name"].startswith(SYNTHESIS_NAMES) and not r["name"].endswith("connect")]
    synthesis_count = sum(r["requests"] for r in synthesis)
    print(
        f"\nrequests: {total} in {wall:.0f} s = {total / wall:.2f}/s "
        f"(synthesis {synthesis_count} = {synthesis_count / wall:.2f}/s), "
        f"failed {failed} ({failed / max(1, total) * 100:.1f}%)"
    )
    print("\nper kind (seconds; first audio and total of the successful ones)")
    header = (
        f"{'kind':36} {'type':>5} {'reqs':>5} {'fail':>5} {'ok':>5}   "
        f"{'first p50':>9} {'p95':>6} {'p99':>6}   {'total p50':>9} {'p95':>6} {'p99':>6}"
    )
    print(header)
    print("-" * len(header))
    order = sorted(requests, key=lambda r: (not r["name"].startswith(SYNTHESIS_NAMES), r["type"], r["name"]))
    for row in order:
        name, kind_samples = row["name"], samples.get(row["name"])
        ok = row["requests"] - row["failures"]
        if kind_samples:  # exact, from the raw samples of the successful requests
            firsts = [s[0] for s in kind_samples if s[0] is not None]
            totals = [s[1] for s in kind_samples]
            first = [percentile(firsts, p) if firsts else None for p in (50, 95, 99)]
            whole = [percentile(totals, p) for p in (50, 95, 99)]
        else:  # Locust's own percentiles (two significant digits; failures included)
            first = [None, None, None]
            whole = [row[f"p{p}"] if row["requests"] else None for p in (50, 95, 99)]
        print(
            f"{name[:36]:36} {row['type'][:5]:>5} {row['requests']:>5} {row['failures']:>5} {ok:>5}   "
            f"{seconds(first[0]):>9} {seconds(first[1]):>6} {seconds(first[2]):>6}   "
            f"{seconds(whole[0]):>9} {seconds(whole[1]):>6} {seconds(whole[2]):>6}"
        )
    by_error: dict[str, int] = {}
    where: dict[str, set] = {}
    for row in counts.get("errors", []):
        label = error_label(row["error"])
        by_error[label] = by_error.get(label, 0) + row["occurrences"]
        where.setdefault(label, set()).add(row["name"])
    print("\nerrors by status and code" + ("" if by_error else ": none"))
    for label, n in sorted(by_error.items(), key=lambda item: -item[1]):
        places = ", ".join(sorted(where[label]))
        print(f"  {label:32} {n:>6}  {n / max(1, total) * 100:5.1f}% of requests   ({places[:90]})")


def report_resources(sampler: Sampler, names: list[str]) -> None:
    rows = sampler.rows
    if not rows:
        print("\nresources: no samples")
        return
    print(f"\nresources, sampled every {SAMPLE_SECONDS} s ({len(rows)} samples; CPU % of one core)")
    header = (
        f"{'process':12} {'cpu min':>7} {'mean':>6} {'max':>6}   {'rss MiB min':>11} {'mean':>6} {'max':>6}  "
        f"{'1st min':>7} {'last min':>8}   {'fds min':>7} {'max':>5}"
    )
    print(header)
    print("-" * len(header))
    end = rows[-1]["t"]
    for name in names:
        series = [(row["t"], row[name]) for row in rows if name in row]
        if not series:
            continue
        cpu = [s["cpu"] for _, s in series]
        rss = [s["rss"] for _, s in series]
        fds = [s["fds"] for _, s in series]
        first_minute = [s["rss"] for t, s in series if t <= 60] or rss[:1]
        last_minute = [s["rss"] for t, s in series if t >= end - 60] or rss[-1:]
        print(
            f"{name:12} {min(cpu):7.0f} {statistics.mean(cpu):6.0f} {max(cpu):6.0f}   {min(rss):11.0f} "
            f"{statistics.mean(rss):6.0f} {max(rss):6.0f}  {statistics.mean(first_minute):7.0f} "
            f"{statistics.mean(last_minute):8.0f}   {min(fds):7} {max(fds):5}"
        )
    keys = [row["redis_keys"] for row in rows if "redis_keys" in row]
    if keys:
        print(
            f"{'redis keys':12} min {min(keys)}, mean {statistics.mean(keys):.0f}, max {max(keys)}, "
            f"first {keys[0]}, last {keys[-1]}"
        )
    # Over time: each minute's mean CPU % and RSS per process.
    minutes = sorted({int(row["t"] // 60) for row in rows})
    print("\nover time (per minute: mean CPU %, mean RSS MiB)")
    print(f"{'minute':>6}  " + "  ".join(f"{name:>16}" for name in names) + ("  redis keys" if keys else ""))
    for minute in minutes:
        cells = []
        for name in names:
            figures = [row[name] for row in rows if int(row["t"] // 60) == minute and name in row]
            cells.append(
                f"{statistics.mean(f['cpu'] for f in figures):6.0f}% {statistics.mean(f['rss'] for f in figures):7.0f}"
                if figures
                else f"{'-':>16}"
            )
        redis_cell = ""
        if keys:
            in_minute = [row["redis_keys"] for row in rows if int(row["t"] // 60) == minute and "redis_keys" in row]
            redis_cell = f"  {max(in_minute) if in_minute else '-':>10}"
        print(f"{minute:>6}  " + "  ".join(f"{c:>16}" for c in cells) + redis_cell)


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """The least-squares slope of (seconds, value) points, per hour."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return 0.0 if spread == 0 else sum((t - mean_t) * (v - mean_v) for t, v in points) / spread * 3600


def report_growth(sampler: Sampler, names: list[str], warmup: float = GROWTH_WARMUP_SECONDS) -> None:
    """A soak's verdict: after the warm-up (model loaded, caches filled), does RSS, the FD count or Redis's key
    count keep growing? The least-squares slope per hour and the first and last 10 minutes' means."""
    rows = [row for row in sampler.rows if row["t"] >= warmup]
    if not rows or rows[-1]["t"] - rows[0]["t"] < 2 * warmup:
        return  # too short a run to tell growth from warm-up
    start, end = rows[0]["t"], rows[-1]["t"]
    print(f"\ngrowth after the first {warmup / 60:.0f} min ({(end - start) / 60:.0f} min; slope by least squares)")
    print(f"{'series':24} {'first 10 min':>12} {'last 10 min':>12} {'slope per hour':>15}")

    def line(label: str, points: list[tuple[float, float]], unit: str) -> None:
        if len(points) < 2:
            return
        first = statistics.mean(v for t, v in points if t < start + 600)
        last = statistics.mean(v for t, v in points if t > end - 600)
        print(f"{label:24} {first:12.1f} {last:12.1f} {slope_per_hour(points):+13.1f} {unit}")

    for name in names:
        line(f"{name} RSS MiB", [(row["t"], row[name]["rss"]) for row in rows if name in row], "MiB")
        line(f"{name} FDs", [(row["t"], row[name]["fds"]) for row in rows if name in row], "")
    line("redis keys", [(row["t"], row["redis_keys"]) for row in rows if "redis_keys" in row], "")


def report_ledger(server: dict, counts: dict) -> None:
    client = counts.get("ledger", {})
    print("\nledger (the load organizations)")
    empty = {"complete": 0, "complete_characters": 0, "partial": 0, "partial_characters": 0, "lost": 0}
    names = {"api": "API requests", "studio": "studio socket", "jobs": "long-form jobs"}
    for group, label in names.items():
        settled = server["settled"][group]
        seen = {**empty, **client.get(group, {})}
        heard = seen["complete_characters"] + seen["partial_characters"]
        difference = settled["characters"] - heard
        print(
            f"  {label:15} charged {settled['characters']:>8,} chars in {settled['rows']:>5} rows | clients got whole "
            f"{seen['complete']:>5} ({seen['complete_characters']:>8,} chars), cut short {seen['partial']} "
            f"({seen['partial_characters']:,} chars as the server reported), lost {seen['lost']} | "
            f"charged - received: {difference:+,}"
        )
    reserved = server["reserved"]
    print(
        f"  usage rows still reserved: {reserved['rows']} ({reserved['characters']:,} chars); "
        f"refunded rows: {server['refunded_rows']}"
    )
    mismatches = server["counter_mismatches"]
    print(
        "  organization counters = settled + reserved rows: "
        + ("yes, for every organization" if not mismatches else f"NO for {len(mismatches)}: {mismatches[:3]}")
    )
    print(
        f"  generations kept: {server['generations']}; jobs: {server['jobs']} ({server['unfinished_jobs']} unfinished)"
    )
    orphans, files = server["orphans"], server["files"]
    print(
        f"  audio files under MEDIA_ROOT: {files['on_disk']} ({files['bytes'] / 1e6:.1f} MB); "
        f"orphans (no row references them): {orphans['count']} ({orphans['bytes'] / 1e6:.2f} MB)"
        + (f", e.g. {orphans['examples']}" if orphans["count"] else "")
        + f"; rows whose file is missing: {files['referenced_missing']}"
    )


# -- the run ------------------------------------------------------------------------------------------------


def duration_seconds(text: str) -> int:
    parts = re.findall(r"(\d+)\s*([hms]?)", text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise argparse.ArgumentTypeError(f"{text!r}: a duration such as 60s, 10m or 1h30m")
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1, "": 1}[u] for n, u in parts)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", default="10m", help="Locust's --run-time (60s, 10m, 1h30m); default 10m")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument(
        "--spawn-rate", type=float, default=None, help="users started per second (default users/10, at least 1)"
    )
    parser.add_argument("--tenants", type=int, default=None, help="load-test organizations (default: one per user)")
    parser.add_argument(
        "--stop-timeout",
        type=int,
        default=180,
        help="seconds users get to finish the task they are in when the time is up (default 180)",
    )
    parser.add_argument("--scale", action="store_true", help="PostgreSQL + Redis, two web processes and a jobs_worker")
    parser.add_argument(
        "--postgres",
        default="postgres://postgres@127.0.0.1:5432",
        help="the PostgreSQL server for --scale (a fresh database is made on it, then dropped)",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="the Redis server for --scale")
    parser.add_argument(
        "--redis-db", type=int, default=11, help="the Redis database number for --scale (not 0; must be empty)"
    )
    parser.add_argument(
        "--locust-args",
        default="",
        help='more arguments for locust, e.g. "StudioUser" (only that class) or "--tags job" (only tasks so tagged)',
    )
    parser.add_argument("--out", default=None, help="the run folder (default /tmp/voicehub-load-<time>)")
    parser.add_argument("--keep", action="store_true", help="keep the run's database and media afterwards")
    parser.add_argument(
        "--prime",
        action="store_true",
        help="before the load, take each process to the engine's worst case (a soak then measures leaks only)",
    )
    args = parser.parse_args()
    args.seconds = duration_seconds(args.duration)
    if args.scale and args.redis_db == 0:
        parser.error("--redis-db 0 is the default database of everything else on that Redis; pick another")
    return args


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-embedded":
        serve_embedded(sys.argv[2:])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--growth-of":
        # A finished run's growth figures again, from its samples.json (a soak's verdict).
        sampler = Sampler({})
        sampler.rows = json.loads((Path(sys.argv[2]) / "samples.json").read_text())
        names = sorted({key for row in sampler.rows for key, value in row.items() if isinstance(value, dict)} - {"locust"})
        report_growth(sampler, names)
        return
    args = parse_args()
    try:
        import locust  # noqa: F401
        import websocket  # noqa: F401
    except ImportError:
        raise SystemExit("Locust is not installed: .venv/bin/pip install -r requirements-bench.txt") from None
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run = Path(args.out or f"/tmp/voicehub-load-{stamp}").resolve()
    run.mkdir(parents=True, exist_ok=True)
    (run / "media").mkdir(exist_ok=True)
    processes: list[Process] = []
    cleanups: list = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # SIGTERM cleans up as Ctrl-C does
    try:
        measure(args, run, stamp, processes, cleanups)
    finally:
        for process in processes:
            process.stop()
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as error:  # report, and go on cleaning the rest
                print(f"cleanup: {error}", file=sys.stderr)
        if not args.keep:
            for name in ("media", "static", "db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm", "tenants.json"):
                path = run / name
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        print(f"\nrun folder: {run} (Locust's CSV files, server logs, samples.json)")


# --prime: what the engine's worst case is (bench/memory_bound.py): every model call a process runs at once
# (2 slots + 1 urgent on 2 cores) on a chunk of the most tokens, at the slowest speed.
PRIME_TEXT = " ".join(
    ["The harbor town woke slowly under a grey sky while the fishing boats rocked against the old stone pier"
     " and the gulls circled above the market stalls that were opening one by one along the water."] * 4
)
PRIME_STREAMS = 3
PRIME_ROUNDS = 2
PRIMER_INDEX = 900  # a tenant of its own, outside the load tenants: the ledger check does not count it


def prime(args, run: Path, env: dict, hosts: list[str], processes: list[Process]) -> None:
    """Take every process to the engine's worst case before the load starts, so the growth table sees leaks only.

    onnxruntime's arena grows to the largest set of buffers calls side by side have needed and keeps them;
    unprimed, a soak's RSS climbs in steps toward that ceiling as rare mixes of long chunks meet. Each web
    process gets PRIME_ROUNDS rounds of PRIME_STREAMS streams of long sentences at speed 0.5 at once (through
    /api/v1/tts/stream, as users would), the job worker (--scale) a job of the same text at speed 0.5.
    """
    primer_file = run / "primer.json"
    run_checked(
        [sys.executable, "bench/load_setup.py", "create", "--tenants", str(len(hosts)), "--first-index", str(PRIMER_INDEX),
         "--out", str(primer_file)],
        env,
        "load_setup (primer)",
        run / "load_setup_primer.log",
    )
    # One tenant per web process: the plan's 5 streams at once would refuse a sixth across the two.
    keys = [tenant["api_key"] for tenant in json.loads(primer_file.read_text())["tenants"]]
    primer_file.unlink()

    def headers(key: str) -> dict:
        return {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "203.0.113.250",
        }

    def post(url: str, body: dict, key: str) -> bytes:
        request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers(key), method="POST")
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.read()

    def stream(host: str, key: str, index: int, failures: list) -> None:
        try:
            body = {"text": PRIME_TEXT, "voice": ["af_heart", "am_michael", "bf_emma"][index % 3], "speed": 0.5,
                    "format": "wav"}
            post(f"{host}/api/v1/tts/stream", body, key)
        except (urllib.error.URLError, OSError) as error:
            failures.append(f"{host}: {error}")

    started = time.monotonic()
    failures: list[str] = []
    for _ in range(PRIME_ROUNDS):
        threads = [
            threading.Thread(target=stream, args=(host, key, i, failures))
            for host, key in zip(hosts, keys)
            for i in range(PRIME_STREAMS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if args.scale:
        body = {"text": PRIME_TEXT, "voice": "af_heart", "speed": 0.5}
        job = json.loads(post(f"{hosts[0]}/api/v1/jobs", body, keys[0]))
        while job["status"] not in ("succeeded", "failed", "cancelled"):
            time.sleep(2)
            request = urllib.request.Request(f"{hosts[0]}/api/v1/jobs/{job['id']}", headers=headers(keys[0]))
            with urllib.request.urlopen(request, timeout=60) as response:
                job = json.loads(response.read())
        if job["status"] != "succeeded":
            failures.append(f"priming job {job['status']}: {job.get('error')}")
    if failures:
        raise SystemExit(f"priming failed: {failures}")
    figures = {p.name: proc_figures(p.pid) for p in processes}
    rss = ", ".join(f"{name} {found[1]:.0f} MiB" for name, found in figures.items() if found)
    print(f"primed to the engine's worst case in {time.monotonic() - started:.0f} s: RSS {rss}", flush=True)


def measure(args, run: Path, stamp: str, processes: list[Process], cleanups: list) -> None:
    users = args.users
    tenants = args.tenants or users
    spawn_rate = args.spawn_rate or max(1.0, users / 10)
    ports = [free_port() for _ in range(2 if args.scale else 1)]
    hosts = [f"http://127.0.0.1:{port}" for port in ports]
    env = {k: v for k, v in os.environ.items() if k not in DECIDED_HERE}
    env.update(
        {
            "VOICEHUB_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CSRF_TRUSTED_ORIGINS": ",".join(f"https://127.0.0.1:{port}" for port in ports),
            "TRUSTED_PROXY_COUNT": "1",  # behind one proxy (Locust plays it): docs/deploy.md
            "MEDIA_ROOT": str(run / "media"),
            "STATIC_ROOT": str(run / "static"),
            "VOICEHUB_STORAGE": "local",
            "VOICEHUB_NO_BOOTSTRAP": "1",  # this interpreter's environment is the one to use
            "PYTHONUNBUFFERED": "1",
        }
    )
    redis_client = None
    if args.scale:
        import psycopg
        import redis

        database = f"voicehub_load_{stamp.replace('-', '_')}_{os.getpid()}"
        with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')

        def drop_database():
            with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            print(f"dropped database {database}")

        cleanups.append(drop_database)
        redis_url = f"{args.redis}/{args.redis_db}"
        redis_client = redis.Redis.from_url(redis_url)
        if redis_client.dbsize():
            raise SystemExit(
                f"{redis_url} holds {redis_client.dbsize()} keys: someone uses it; pick another --redis-db"
            )

        def flush_redis():
            redis_client.flushdb()  # this database number only
            print(f"flushed {redis_url}")

        cleanups.append(flush_redis)
        env.update(
            {
                "DATABASE_URL": f"{args.postgres}/{database}",
                "DATABASE_CONN_MAX_AGE": "60",
                "REDIS_URL": redis_url,
                "VOICEHUB_JOB_WORKER_IN_PROCESS": "false",
            }
        )
    else:
        env["DATABASE_URL"] = f"sqlite:///{run / 'db.sqlite3'}"
    python = sys.executable
    print(
        f"voicehub load run: {'scale (PostgreSQL + Redis, 2 web, 1 jobs_worker)' if args.scale else 'embedded (SQLite, in-memory layers, 1 process)'}; "
        f"{users} users (+{spawn_rate:g}/s), {tenants} tenants, {args.duration}; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    started = time.monotonic()
    run_checked([python, "manage.py", "migrate", "--noinput"], env, "migrate", run / "migrate.log")
    run_checked(
        [python, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        env,
        "collectstatic",
        run / "collectstatic.log",
    )
    tenants_file = run / "tenants.json"
    run_checked(
        [python, "bench/load_setup.py", "create", "--tenants", str(tenants), "--out", str(tenants_file)],
        env,
        "load_setup",
        run / "load_setup.log",
    )
    print(f"set up (migrate, collectstatic, {tenants} tenants) in {time.monotonic() - started:.0f} s", flush=True)

    names = []
    for index, port in enumerate(ports):
        web_args = [a.replace("{port}", str(port)) for a in WEB_ARGS]
        if args.scale:
            command = [python, "-m", "voicehub_site.serve", *web_args]
        else:
            command = [python, str(Path(__file__).resolve()), "--serve-embedded", *web_args]
        name = f"web{index + 1}:{port}"
        processes.append(Process(name, command, env, run / f"web-{port}.log"))
        names.append(name)
    if args.scale:
        worker_env = {**env, "VOICEHUB_INFERENCE_WORKERS": "1", "VOICEHUB_INFERENCE_THREADS": "2"}  # docker-compose.yml
        processes.append(
            Process("jobs_worker", [python, "manage.py", "jobs_worker"], worker_env, run / "jobs_worker.log")
        )
        names.append("jobs_worker")
    for process in processes:
        print(
            f"  {process.name}: {' '.join(Path(process.command[0]).name if i == 0 else a for i, a in enumerate(process.command))}"
        )
    for host, process in zip(hosts, processes):
        print(f"  {process.name} ready (model loaded) after {wait_ready(host, process):.0f} s", flush=True)

    if args.prime:
        prime(args, run, env, hosts, processes)

    sampler = Sampler({p.name: p.pid for p in processes}, redis_client)
    counts_file = run / "client_counts.json"
    locust_env = {
        **env,
        "VOICEHUB_LOAD_TENANTS": str(tenants_file),
        "VOICEHUB_LOAD_HOSTS": ",".join(hosts),
        "VOICEHUB_LOAD_CLIENT_COUNTS": str(counts_file),
    }
    command = [
        python,
        "-m",
        "locust",
        "-f",
        "bench/locustfile.py",
        "--headless",
        "-u",
        str(users),
        "-r",
        f"{spawn_rate:g}",
        "-t",
        args.duration,
        "--stop-timeout",
        str(args.stop_timeout),
        "--csv",
        str(run / "locust"),
        "--host",
        hosts[0],
        "--only-summary",
        *shlex.split(args.locust_args),
    ]
    print(f"locust: {' '.join(command[1:])}", flush=True)
    load_started = time.monotonic()
    with open(run / "locust.log", "w") as output:
        locust_process = subprocess.Popen(
            command, cwd=ROOT, env=locust_env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    sampler.watch("locust", locust_process.pid)
    sampler.start()
    try:
        locust_process.wait(timeout=args.seconds + args.stop_timeout + 120)
    except subprocess.TimeoutExpired:
        locust_process.terminate()
        locust_process.wait(30)
        print("locust did not stop in time; terminated")
    except BaseException:
        locust_process.terminate()
        locust_process.wait(30)
        raise
    wall = time.monotonic() - load_started
    sampler.stop()
    (run / "samples.json").write_text(json.dumps(sampler.rows))
    print(
        f"locust exited with {locust_process.returncode} after {wall:.0f} s (1: some requests failed); "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    counts = json.loads(counts_file.read_text()) if counts_file.exists() else {}
    if not counts:
        print(f"no client counts from locust; its log:\n{(run / 'locust.log').read_text()[-3000:]}")

    # Jobs the clients gave up on and requests ending after their client left settle on their own: wait a little.
    ledger_command = [python, "bench/load_setup.py", "ledger", "--tenants-file", str(tenants_file)]
    deadline = time.monotonic() + 90
    while True:
        server = json.loads(run_checked(ledger_command, env, "the ledger", run / "ledger.log"))
        if (not server["reserved"]["rows"] and not server["unfinished_jobs"]) or time.monotonic() > deadline:
            break
        time.sleep(5)
    (run / "ledger.json").write_text(json.dumps(server, indent=1))

    report_requests(counts, wall)
    report_resources(sampler, [*names, "locust"])
    report_growth(sampler, names)
    report_ledger(server, counts)


if __name__ == "__main__":
    main()
