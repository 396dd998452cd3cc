"""The run-glue engine: dispatcher, pod tracker, task-status reporter, worker heartbeat."""
