#!/usr/bin/env bash
# The whole check suite: lint, types, layering contract, tests. Run from an environment with '.[test]' installed.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== ruff";        ruff check kubectl_clearml tests bench
echo "== mypy";        mypy
echo "== lint-imports"; lint-imports
echo "== pytest";      python -m pytest -q -p no:cacheprovider "$@"
