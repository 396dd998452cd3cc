"""Fixtures for the kube emulator (filled in by the sandbox work)."""
