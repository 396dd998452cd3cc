"""Shared fixtures. The emulator fixtures live in their own plugin modules, listed here."""

pytest_plugins = [
    "tests.fixtures_clearml",
    "tests.fixtures_kube",
    "tests.fixtures_world",
]
