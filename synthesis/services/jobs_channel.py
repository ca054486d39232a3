"""The channel-layer group that carries an organization's background-job progress to its open studio sockets."""


def job_group(organization_id: int) -> str:
    return f"jobs.org.{organization_id}"
