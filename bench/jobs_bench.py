"""
Long-form jobs benchmark: a 20,000-character job through the real queue and workers,
against the engine's serial time on the same text.

    .venv/bin/python bench/jobs_bench.py [--characters 20000]

Prints: the engine's serial time for the text (engine.synthesize, chapter after
chapter, in this process), the job's wall time from POST to succeeded with one
`manage.py jobs_worker` (2 inference threads) and with two (1 thread each), and the
ratios. The job runs on a scratch SQLite database and media folder, so nothing of
yours is touched; wall times include each worker's start and model load.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = Path(tempfile.mkdtemp(prefix="voicehub-jobs-bench-"))
sys.path.insert(0, str(ROOT))
os.environ.update(
    DJANGO_SETTINGS_MODULE="voicehub_site.settings",
    DATABASE_URL=f"sqlite:///{SCRATCH / 'bench.sqlite3'}",
    MEDIA_ROOT=str(SCRATCH / "media"),
    VOICEHUB_NO_BOOTSTRAP="1",
    VOICEHUB_JOB_WORKER_IN_PROCESS="false",
)
os.environ.pop("REDIS_URL", None)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from accounts.models import Plan, User  # noqa: E402
from accounts.services import organization_create  # noqa: E402
from synthesis import jobs  # noqa: E402
from synthesis.audio import parse_format  # noqa: E402
from synthesis.jobs.documents import chapters_from_text  # noqa: E402
from synthesis.models import Job  # noqa: E402
from synthesis.services.engine import get_engine  # noqa: E402

VOICE = "af_heart"
SENTENCES = [
    "The harbor town woke slowly under a grey sky, and the fishing boats rocked against the pier.",
    "Gulls circled above the market, where merchants were already arranging crates of silver fish.",
    "Old Martha unlocked the bakery at six, as she had every morning for forty-one years.",
    "The smell of fresh bread drifted down the cobbled street and into the open windows.",
    "Down at the docks, Thomas checked the nets one last time before the tide turned.",
    "He had heard the forecast: a storm was coming, the largest in a decade, they said.",
    "Nobody in the town seemed worried; storms came and went, and the sea always gave back what it took.",
    "But Thomas remembered the winter of his childhood, when the water rose over the harbor wall.",
]


def book(characters: int) -> str:
    parts, size, chapter, index = [], 0, 0, 0
    while size < characters:
        if index % 24 == 0:
            chapter += 1
            parts.append(f"\n# Chapter {chapter}\n")
        parts.append(SENTENCES[index % len(SENTENCES)] + " ")
        size += len(parts[-1])
        index += 1
    return "".join(parts)[:characters]


def run_job(organization, text: str, workers: int) -> tuple[float, Job]:
    started = time.perf_counter()
    job = jobs.job_create(organization=organization, chapters=chapters_from_text(text), voice_id=VOICE, fmt=parse_format("mp3"))
    threads = "2" if workers == 1 else "1"
    env = dict(os.environ, VOICEHUB_INFERENCE_WORKERS="1", VOICEHUB_INFERENCE_THREADS=threads)
    processes = [
        subprocess.Popen([sys.executable, "manage.py", "jobs_worker", "--batch", "--worker-id", f"bench-{n}", "--verbosity", "0"],
                         cwd=ROOT, env=env)
        for n in range(workers)
    ]
    for process in processes:
        process.wait()
    elapsed = time.perf_counter() - started
    job.refresh_from_db()
    return elapsed, job


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--characters", type=int, default=20_000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    user = User.objects.create_user(email="bench@example.com", password="bench-password-123")
    organization = organization_create(owner=user, name="Bench")
    organization.plan = Plan.objects.get(slug="enterprise")
    organization.save(update_fields=["plan"])
    text = book(args.characters)
    chapters = chapters_from_text(text)
    print(f"text: {len(text):,} characters, {len(chapters)} chapters; scratch: {SCRATCH}", flush=True)

    engine = get_engine()
    engine.warm_up()
    started = time.perf_counter()
    samples = sum(len(engine.synthesize(c.text, VOICE)) for c in chapters)
    serial = time.perf_counter() - started
    audio = samples / engine.sample_rate
    print(f"engine serial ({engine.workers} slot x {engine.threads} threads): {serial:7.1f} s "
          f"for {audio / 60:.1f} min of audio (RTF {serial / audio:.2f})", flush=True)

    results = {}
    for workers in (1, 2):
        elapsed, job = run_job(organization, text, workers)
        assert job.status == "succeeded", (job.status, job.error_code, job.error_detail)
        results[workers] = elapsed
        print(f"job, {workers} worker{'s' if workers > 1 else ' '}:             {elapsed:7.1f} s "
              f"({job.chunks_total} chunks; {elapsed / serial:.2f}x the engine's serial time)", flush=True)
    print(f"2 workers vs 1: {results[1] / results[2]:.2f}x faster")


if __name__ == "__main__":
    main()
