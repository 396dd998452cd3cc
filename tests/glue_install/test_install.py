"""`glue install|status|uninstall` end to end against the sandbox: the handover never lets two glues pull."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import run_cli

NS = "clearml"

AGENT = "clearml-agent"
OURS = "clearml-agent-kc-glue"


def cli(world: Any, tmp_path: Path, *args: str) -> Any:
    return run_cli(["glue", *args, "-n", NS], world.env, home=str(tmp_path))


def agent(world: Any) -> dict[str, Any]:
    return world.client(NS).get("deployments", AGENT, NS)


def ours(world: Any, kind: str = "deployments", name: str = OURS) -> dict[str, Any] | None:
    from kubectl_clearml.errors import NotFoundError

    try:
        return world.client(NS).get(kind, name, NS)
    except NotFoundError:
        return None


def test_client_dry_run_prints_every_object_and_changes_nothing(world: Any, tmp_path: Path) -> None:
    before = agent(world)
    result = cli(world, tmp_path, "install", "--dry-run=client", "-o", "yaml", "--replicas", "2")
    assert result.exit_code == 0, result.stderr
    doc = yaml.safe_load(result.stdout)
    kinds = [o["kind"] for o in doc["items"]]
    assert kinds == ["ServiceAccount", "Role", "RoleBinding", "Service", "PodDisruptionBudget", "Deployment"]
    assert "deployment/clearml-agent scaled (client dry run)" in result.stderr
    assert ours(world) is None and ours(world, "serviceaccounts") is None
    assert agent(world)["spec"] == before["spec"]  # (its status moves on: the controller keeps it current)
    assert "kubectl-clearml/takeover" not in (agent(world)["metadata"].get("annotations") or {})


def test_the_glue_serves_what_the_agent_served(world: Any, tmp_path: Path) -> None:
    result = cli(world, tmp_path, "install", "--dry-run=client", "-o", "json")
    assert result.exit_code == 0, result.stderr
    deployment = yaml.safe_load(result.stdout)["items"][-1]
    glue = agent(world)["spec"]["template"]["spec"]
    agent_env = {e["name"]: e for e in glue["containers"][0]["env"]}
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    args = container["args"]
    served = agent_env["K8S_GLUE_QUEUE"]["value"].replace(",", " ").split()
    assert [args[i + 1] for i, a in enumerate(args) if a == "--queue"] == served
    assert {"--leader-elect", "--log-format", "json"} <= set(args) and args[args.index("--metrics-port") + 1] == "9090"
    # The same identity (so task pods keep CLEARML=agent-<hash> and the lease), the same Secret, no key copied.
    assert env["CLEARML_WORKER_ID"] == agent_env["CLEARML_WORKER_ID"]
    assert env["CLEARML_API_SECRET_KEY"] == agent_env["CLEARML_API_SECRET_KEY"]
    assert "valueFrom" in env["CLEARML_API_SECRET_KEY"]
    assert world.clearml.secret_key not in result.stdout
    template_volume = next(v for v in glue["volumes"] if v.get("configMap"))
    assert {"name": "template", "configMap": template_volume["configMap"]} in pod["volumes"]
    assert args[args.index("--template") + 1] == "/root/template/template.yaml"
    # Restricted pod security: non-root, read-only root, no escalation, RuntimeDefault seccomp.
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["readinessProbe"]["httpGet"]["port"] == "metrics"


def record_changes(world: Any) -> tuple[list[tuple[str, str, str]], Any]:
    """Every change the store commits, in order: (type, plural, name)."""
    seen: list[tuple[str, str, str]] = []
    unsubscribe = world.kube.store.subscribe(lambda kind, plural, obj: seen.append((kind, plural, obj["metadata"]["name"])))
    return seen, unsubscribe


def agent_pods(world: Any) -> list[str]:
    return [p["metadata"]["name"] for p in world.kube.store.list("pods", NS) if p["metadata"]["name"].startswith(f"{AGENT}-")
            and not p["metadata"]["name"].startswith(OURS)]


def test_install_hands_over_then_is_a_no_op_then_uninstall_restores(world: Any, tmp_path: Path) -> None:
    """The sandbox's Deployment controller and kubelet do the rolling; the handover order is checked on the
    store's change log: our Deployment is created only after the agent's last pod is gone."""
    replicas = agent(world)["spec"]["replicas"]
    before = agent_pods(world)
    assert before, "the seeded agent runs a pod"
    changes, unsubscribe = record_changes(world)
    try:
        first = cli(world, tmp_path, "install", "--image", "glue:test", "--timeout", "30")
    finally:
        unsubscribe()
    assert first.exit_code == 0, first.stderr
    assert f"deployment/{OURS} created" in first.stdout
    ours_created = changes.index(("ADDED", "deployments", OURS))
    agent_pods_gone = max(i for i, c in enumerate(changes) if c[0] == "DELETED" and c[1] == "pods" and c[2] in before)
    assert agent_pods_gone < ours_created, "our glue existed while the agent's pod was still there"
    scaled = agent(world)
    assert scaled["spec"]["replicas"] == 0
    assert f'"replicas": {replicas}' in scaled["metadata"]["annotations"]["kubectl-clearml/takeover"]
    assert (ours(world) or {}).get("status", {}).get("availableReplicas") == 1

    again = cli(world, tmp_path, "install", "--image", "glue:test", "--timeout", "30")
    assert again.exit_code == 0, again.stderr
    assert all(line.endswith(" unchanged") for line in again.stdout.splitlines()), again.stdout

    status = cli(world, tmp_path, "status", "-o", "json")
    assert status.exit_code == 0, status.stderr
    report = yaml.safe_load(status.stdout)
    assert report["serving"] == "kubectl-clearml"
    assert report["agent"]["replicas"] == 0 and report["agent"]["takenOverAt"]
    assert report["glue"]["image"] == "glue:test" and report["glue"]["ready"] == 1

    gone = cli(world, tmp_path, "uninstall", "--timeout", "30")
    assert gone.exit_code == 0, gone.stderr
    assert "deployment/clearml-agent restored" in gone.stdout
    restored = agent(world)
    assert restored["spec"]["replicas"] == replicas
    assert "kubectl-clearml/takeover" not in (restored["metadata"].get("annotations") or {})
    assert ours(world) is None and ours(world, "roles") is None and ours(world, "services", f"{OURS}-metrics") is None
    status = cli(world, tmp_path, "status", "-o", "json")
    assert yaml.safe_load(status.stdout)["serving"] == "reference"


def test_a_glue_that_never_becomes_available_gives_the_agent_back(world: Any, tmp_path: Path) -> None:
    replicas = agent(world)["spec"]["replicas"]
    result = cli(world, tmp_path, "install", "--image", "registry.example.com/does-not-exist:1", "--timeout", "3")
    assert result.exit_code == 5, result.stderr
    assert "did not become available" in result.stderr and "agent restored" in result.stderr
    assert "ImagePullBackOff" in result.stderr or "ErrImagePull" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert agent(world)["spec"]["replicas"] == replicas
    assert ours(world) is None


def test_an_object_of_our_name_that_is_not_ours_is_refused(world: Any, tmp_path: Path) -> None:
    world.client(NS).create("serviceaccounts", {"metadata": {"name": OURS}}, NS)
    before = agent(world)
    result = cli(world, tmp_path, "install")
    assert result.exit_code == 2
    assert f"ServiceAccount {OURS} exists and was not created by kubectl clearml" in result.stderr
    assert agent(world)["spec"] == before["spec"]
    assert "kubectl-clearml/takeover" not in (agent(world)["metadata"].get("annotations") or {})
    assert ours(world, "roles") is None


def test_uninstall_without_an_install_is_not_found(world: Any, tmp_path: Path) -> None:
    result = cli(world, tmp_path, "uninstall")
    assert result.exit_code == 3 and "nothing to uninstall" in result.stderr


@pytest.mark.parametrize("verb", ["install", "uninstall", "status"])
def test_no_agent_install_is_not_found(make_world: Any, tmp_path: Path, verb: str) -> None:
    bare = make_world(seed=False)
    result = run_cli(["glue", verb, "-n", NS], bare.env, home=str(tmp_path))
    assert result.exit_code == 3, result.stderr
    assert "agent" in result.stderr


def test_server_dry_run_lets_the_api_server_check_everything_and_changes_nothing(world: Any, tmp_path: Path) -> None:
    before = agent(world)
    result = cli(world, tmp_path, "install", "--dry-run=server", "--replicas", "2")
    assert result.exit_code == 0, result.stderr
    assert f"deployment/{OURS} created (server dry run)" in result.stdout
    assert "deployment/clearml-agent scaled (server dry run)" in result.stdout
    assert ours(world) is None and ours(world, "serviceaccounts") is None and ours(world, "poddisruptionbudgets") is None
    assert agent(world)["spec"] == before["spec"]
