"""Jobs that outlive a page: a job store, executors (in-process or Celery workers) and the HTTP API."""
