"""--help and completion stay fast: heavy libraries are imported only by commands that use them."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("kubernetes", "requests", "urllib3", "yaml", "ruamel", "pyhocon", "jsonpatch", "tabulate")


def test_help_imports_no_subcommand_module():
    code = (
        "import sys, io, contextlib; from kubectl_clearml.cli.main import run\n"
        "with contextlib.redirect_stdout(io.StringIO()): run(['--help'])\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('kubectl_clearml.cli.') and m not in "
        "('kubectl_clearml.cli.main', 'kubectl_clearml.cli.options', 'kubectl_clearml.cli.completion_values', "
        "'kubectl_clearml.cli.param_types'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_cli_module_imports_no_heavy_library():
    code = (
        "import sys; import kubectl_clearml.cli.main, kubectl_clearml.cli.complete;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"imported at start-up: {out}"
