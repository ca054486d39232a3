"""Where the job tasks lived before synthesis.jobs: queued rows written then name these paths.

django-tasks stores each task's import path in its queue row; rows enqueued by an older
release still say `synthesis.tasks.run_job`, so the names stay importable here.
"""

from synthesis.jobs.tasks import deliver_webhook, run_job  # noqa: F401
