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


def test_connecting_to_a_cluster_imports_the_api_client_not_the_whole_kubernetes_package(kube, kubeconfig):
    # `import kubernetes` imports its dynamic client, watch, stream, informers and (before the 36 generation)
    # every API class and model: ~175 ms of CPU per command on the 35 client (issue 17). A command needs the
    # ApiClient, its Configuration and the kubeconfig loaders; the rest loads when something asks for it.
    code = (
        "import sys\n"
        "from kubectl_clearml.adapters.kube_connect import connect\n"
        f"kube = connect({str(kubeconfig)!r}, env={{}})\n"
        "assert kube.get('namespaces', 'default')['metadata']['name'] == 'default'\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('kubernetes.dynamic', 'kubernetes.stream', "
        "'kubernetes.client.api.', 'kubernetes.client.models.', 'kubernetes.informer')))\n"
        "print(','.join(loaded))\n"
        "import kubernetes\n"
        "from kubernetes import client, watch\n"  # a later user of the package still gets all of it
        "print(kubernetes.__version__, client.CoreV1Api.__name__, client.V1Pod.__name__, watch.Watch.__name__)\n"
    )
    kube.store.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "", f"imported to connect: {out[0]}"
    assert out[1].split()[1:] == ["CoreV1Api", "V1Pod", "Watch"]
