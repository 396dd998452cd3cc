"""A local ClearML REST API server (auth, queues, tasks, workers) faithful to clearml-server 2.3."""

from kubectl_clearml.sandbox.clearml.emulator import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, ClearmlEmulator

__all__ = ["DEFAULT_ACCESS_KEY", "DEFAULT_SECRET_KEY", "ClearmlEmulator"]
