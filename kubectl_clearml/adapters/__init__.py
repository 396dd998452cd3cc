"""Thin adapters: the only modules that import `kubernetes` or `requests`."""
