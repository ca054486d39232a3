"""
The background tasks, written against the django.tasks API (django-tasks on Django 5.2).

Which backend runs them is the TASKS setting; the work itself lives in
synthesis.jobs.service and synthesis.jobs.webhooks so it can also be called directly.

The imports point one way: the service and webhooks enqueue these tasks, so
they import this module; this module imports the work only when a task runs.
"""

from django_tasks import task


@task(takes_context=True)
def run_job(context, job_id: str) -> str:
    """Work on a long-form job until nothing is left for this worker to do."""
    from synthesis.jobs.service import job_work

    worker_ids = context.task_result.worker_ids
    return job_work(job_id=job_id, worker=worker_ids[-1] if worker_ids else "")


@task(queue_name="webhooks")
def deliver_webhook(delivery_id: str) -> str:
    """One attempt at a webhook delivery; a failed attempt enqueues the next, later."""
    from synthesis.jobs.webhooks import webhook_deliver

    return webhook_deliver(delivery_id=delivery_id)
