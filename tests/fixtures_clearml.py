"""Fixtures for the clearml emulator (filled in by the sandbox work)."""
