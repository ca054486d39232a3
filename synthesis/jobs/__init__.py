"""Long-form jobs: the service, the worker tasks, webhooks and documents."""
