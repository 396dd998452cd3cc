"""The root command: usage line, subcommand list, version, usage errors and the error boundary."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from kubectl_clearml.cli.main import COMMANDS, cli
from tests.helpers import run_cli

SUBCOMMANDS = ["queues", "submit-pod", "diff-template", "gpu-report", "shm-fix", "doctor", "why", "run-glue", "sandbox"]


def test_help_shows_kubectl_prefix_and_every_subcommand(tmp_path):
    result = run_cli(["--help"], home=str(tmp_path))
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: kubectl clearml [OPTIONS] COMMAND")
    for name in SUBCOMMANDS:
        assert f"\n  {name} " in result.stdout


def test_subcommands_registered_once_in_one_list():
    import click

    names = [c.name for c in COMMANDS]
    assert names[: len(SUBCOMMANDS)] == SUBCOMMANDS
    assert len(set(names)) == len(names)
    with click.Context(cli) as ctx:
        assert cli.list_commands(ctx) == names
        for spec in COMMANDS:  # each module really exports the command the registry names
            assert cli.get_command(ctx, spec.name).name == spec.name


def test_every_subcommand_has_help_with_examples(tmp_path):
    for name in SUBCOMMANDS + ["config"]:
        result = run_cli([name, "--help"], home=str(tmp_path))
        assert result.exit_code == 0, (name, result.stderr)
        assert f"Usage: kubectl clearml {name}" in result.stdout
        assert "kubectl clearml" in result.stdout.split("Usage:", 1)[1].split("Options:")[0] or "Examples" in result.stdout


def test_version(tmp_path):
    from kubectl_clearml import __version__

    result = run_cli(["--version"], home=str(tmp_path))
    assert result.exit_code == 0
    assert result.stdout.strip() == f"kubectl-clearml {__version__}"


def test_unknown_option_is_one_line_usage_error(tmp_path):
    result = run_cli(["queues", "--no-such-flag"], home=str(tmp_path))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == "kubectl clearml: error: No such option '--no-such-flag': see 'kubectl clearml queues --help'"
    assert "Traceback" not in result.stderr


def test_unknown_subcommand(tmp_path):
    result = run_cli(["frobnicate"], home=str(tmp_path))
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.stderr


def test_global_options_accepted_after_the_subcommand(tmp_path):
    # -o is validated by the command: a bad value after the subcommand must be seen by it.
    result = run_cli(["config", "-o", "xml"], home=str(tmp_path))
    assert result.exit_code == 2
    assert "unsupported output format 'xml'" in result.stderr


def test_global_options_before_and_after_the_subcommand_later_wins(tmp_path):
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: a, context: {cluster: c, user: u, namespace: from-context}}]\n"
    )
    result = run_cli(
        ["-n", "first", "config", "--kubeconfig", str(kubeconfig), "-n", "second", "-o", "json"],
        home=str(tmp_path),
    )
    assert '"kubernetes.namespace": "second"' in result.stdout


def test_config_names_the_source_of_each_clearml_setting(clearml, tmp_path):
    # Precedence is per field: a flag for the server, the environment for the key, the file for the rest.
    conf = clearml.write_clearml_conf(tmp_path / "clearml.conf")
    result = run_cli(
        ["config", "--check", "-o", "json", "--api-host", clearml.url, "--insecure-skip-tls-verify"],
        env={"CLEARML_CONFIG_FILE": str(conf), "CLEARML_API_ACCESS_KEY": clearml.access_key,
             "KUBECONFIG": str(tmp_path / "none")},
        home=str(tmp_path),
    )
    sources = json.loads(result.stdout)["sources"]
    assert {k: v for k, v in sources.items() if k.startswith("clearml.")} == {
        "clearml.api_host": "flag --api-host",
        "clearml.access_key": "env CLEARML_API_ACCESS_KEY",
        "clearml.secret_key": str(conf),
        "clearml.verify_tls": "flag --insecure-skip-tls-verify",
        "clearml.server_version": "server",
        "clearml.api_version": "server",
    }
    assert clearml.secret_key not in result.stdout + result.stderr


def test_an_option_missing_its_value_points_at_the_subcommand_help(tmp_path):
    # click raises this one without a context: the hint must still name the subcommand typed.
    result = run_cli(["-n", "ml", "queues", "create", "--tag"], home=str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == (
        "kubectl clearml: error: Option '--tag' requires an argument: see 'kubectl clearml queues create --help'\n"
    )
    assert run_cli(["-o"], home=str(tmp_path)).stderr.endswith("see 'kubectl clearml --help'\n")


@pytest.mark.parametrize("args", [["--help"], ["queues", "create", "--help"], ["queues", "--no-kube", "-o", "yaml"]])
def test_a_reader_that_stops_early_is_exit_0_and_silent(clearml, tmp_path, args):
    # `kubectl clearml ... | head`: click would turn the EPIPE into exit 1, and the flush at exit of what is
    # still buffered into exit 120 with "Exception ignored"; a pipeline under pipefail must pass.
    import subprocess
    import sys

    for i in range(30):
        clearml.state.create_queue(f"queue-{i:02d}")
    env = {**clearml.env(), "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubectl_clearml", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the plugin has written anything: its first write meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "error" not in err


def test_config_says_when_the_namespace_is_the_fallback_default(kube, tmp_path):
    with_ns = kube.write_kubeconfig(tmp_path / "with-ns", namespace="ml", context="sandbox")
    without_ns = tmp_path / "without-ns"
    config = yaml.safe_load((tmp_path / "with-ns").read_text())
    del config["contexts"][0]["context"]["namespace"]
    without_ns.write_text(yaml.safe_dump(config))
    sources = {}
    for name, path, extra in (("context", with_ns, []), ("fallback", without_ns, []), ("flag", with_ns, ["-n", "x"])):
        result = run_cli(["config", "-o", "json", "--kubeconfig", str(path), *extra], home=str(tmp_path))
        document = json.loads(result.stdout)
        sources[name] = (document["settings"]["kubernetes.namespace"], document["sources"]["kubernetes.namespace"])
    assert sources == {
        "context": ("ml", "context"),
        "fallback": ("default", "default (the context sets none)"),
        "flag": ("x", "flag -n"),
    }


def test_from_agent_fills_in_only_what_is_missing_and_reads_the_secret_only_then(world, tmp_path):
    only_kube = {"KUBECONFIG": world.env["KUBECONFIG"], "CLEARML_CONFIG_FILE": None}
    agent = run_cli(["config", "--check", "--from-agent", "-o", "json"], env=only_kube, home=str(tmp_path))
    assert agent.exit_code == 0, agent.stderr
    sources = json.loads(agent.stdout)["sources"]
    assert sources["clearml.secret_key"] == "agent deployment clearml/clearml-agent"
    # Flags complete: the agent's Secret is not needed, so no permission for it is either. (With only
    # clearml.conf complete, --from-agent wins: tests/newuser/test_from_agent.py.)
    world.kube.deny("get", "secrets", "clearml")
    keys = ["--api-host", world.clearml.url, "--access-key", world.clearml.access_key, "--secret-key", world.clearml.secret_key]
    complete = run_cli(["config", "--check", "--from-agent", "-o", "json", *keys], env=world.env, home=str(tmp_path))
    assert complete.exit_code == 0, complete.stderr
    assert json.loads(complete.stdout)["sources"]["clearml.secret_key"] == "flag --secret-key"
    assert world.clearml.secret_key not in agent.stdout + agent.stderr + complete.stdout + complete.stderr


def test_bare_command_prints_the_help_like_kubectl(tmp_path):
    result = run_cli([], home=str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Usage: kubectl clearml [OPTIONS] COMMAND")
    assert "\n  config " in result.stdout
    assert result.stderr == ""


def test_from_agent_with_an_in_cluster_address_says_to_pass_api_host(world, tmp_path):
    # The glue usually talks to http://clearml-apiserver.<ns>.svc:8008, which a laptop cannot reach.
    kube = world.client("clearml")
    deployment = kube.get("deployments", "clearml-agent")
    glue = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "k8s-glue")
    env = [{**e, "value": "http://127.0.0.1:9"} if e["name"] == "CLEARML_API_HOST" else e for e in glue["env"]]
    kube.patch("deployments", "clearml-agent", {"spec": {"template": {"spec": {"containers": [
        {"name": "k8s-glue", "env": env}]}}}})
    only_kube = {"KUBECONFIG": world.env["KUBECONFIG"], "CLEARML_CONFIG_FILE": None}
    result = run_cli(["config", "--check", "--from-agent"], env=only_kube, home=str(tmp_path))
    assert result.exit_code == 5, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        "kubectl clearml: error: cannot reach the ClearML API server (http://127.0.0.1:9): that is the agent's "
        "in-cluster address: from outside the cluster pass --api-host (the agent's keys are still used)"
    )
