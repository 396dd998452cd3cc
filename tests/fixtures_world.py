"""Fixtures for the world emulator (filled in by the sandbox work)."""
