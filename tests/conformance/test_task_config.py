"""Conformance: a task pod runs with the agent's clearml.conf, as under the reference glue, but mounted.

Facts:
- GLUE:555-569: every task pod gets the glue's configuration file followed by the extra lines of GLUE:478-489
  (``agent.package_manager.system_site_packages: true`` unless CLEARML_AGENT_FORCE_SYSTEM_SITE_PACKAGES is
  false, GLUE:173-178; git credentials). GLUE:76-104: after installing the agent, the configuration's
  ``agent.extra_docker_shell_script`` runs (GLUE:883), then the task's setup script, then the task.
  GLUE:79-85: git is installed in every pod.
- CHART_5_3_2 templates/clearml-secrets.yaml:9: the glue's file is ``clearml.clearmlConfig`` in the
  ``<fullname>-ac`` Secret, key ``clearml.conf``; templates/agentk8sglue-deployment.yaml:70-75,110-113,167-181:
  mounted at /root/clearml.conf, or from ``existingClearmlConfigSecret``.
Deliberate difference: the reference inlines the file as base64 in the pod's args; here it stays in the Secret.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from kubectl_clearml.core.agent_config import config_from_user_values
from kubectl_clearml.core.agent_glue import task_pod_config
from kubectl_clearml.core.pod_config import CONF_DIR, EXTRA_CONF_ENV, config_from_glue_pod
from kubectl_clearml.core.pod_script import agent_script
from kubectl_clearml.core.podbuilder import GlueSettings, QueueRef, build_task_pod
from kubectl_clearml.sandbox.clearml import ClearmlEmulator
from tests.helpers import run_cli

CONFIG = 'sdk { aws { s3 { key: "s3-key-in-conf" } } }\nagent { extra_docker_shell_script: ["export FROM_CONF=yes"] }'
VALUES: dict[str, Any] = {
    "clearml": {"agentk8sglueKey": "K1", "agentk8sglueSecret": "S1", "clearmlConfig": CONFIG},
    "agentk8sglue": {
        "queue": "red",
        "extraEnvs": [
            {"name": "CLEARML_AGENT_GIT_USER", "value": "bot"},
            {"name": "CLEARML_AGENT_GIT_PASS", "valueFrom": {"secretKeyRef": {"name": "git", "key": "pass"}}},
        ],
    },
}
TASK = {"id": "a" * 32, "name": "t", "container": {"image": "python:3.11-slim"}}


def _pod(values: dict[str, Any]) -> dict[str, Any]:
    cfg = config_from_user_values([values], release="clearml-agent")
    settings = GlueSettings(worker_id="w", credentials_secret="clearml-agent-ac", pod_config=task_pod_config(cfg))
    return build_task_pod(TASK, QueueRef("q1", "red"), cfg.effective_template("red"), settings).manifest


def test_the_agents_secret_is_mounted_and_nothing_is_inlined() -> None:
    pod = _pod(VALUES)
    volume = next(v for v in pod["spec"]["volumes"] if v.get("secret", {}).get("secretName") == "clearml-agent-ac")
    assert volume["secret"]["items"] == [{"key": "clearml.conf", "path": "clearml.conf"}]
    container = pod["spec"]["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    assert mount == {"name": volume["name"], "mountPath": CONF_DIR, "readOnly": True}
    text = yaml.safe_dump(pod)
    assert "s3-key-in-conf" not in text and "base64" not in text
    env = {e["name"]: e for e in container["env"]}
    assert env[EXTRA_CONF_ENV]["value"] == "agent.package_manager.system_site_packages: true"
    assert env["CLEARML_AGENT_GIT_USER"] == {"name": "CLEARML_AGENT_GIT_USER", "value": "bot"}
    assert env["CLEARML_AGENT_GIT_PASS"]["valueFrom"]["secretKeyRef"] == {"name": "git", "key": "pass"}


def test_existing_config_secret_and_force_system_site_packages_false() -> None:
    values = {
        "clearml": {"existingClearmlConfigSecret": "my-conf"},
        "agentk8sglue": {
            "queue": "red",
            "extraEnvs": [
                {"name": "CLEARML_AGENT_FORCE_SYSTEM_SITE_PACKAGES", "value": "false"},
                {"name": "CLEARML_AGENT_GIT_PASS", "value": "plain"},
            ],
        },
    }
    cfg = config_from_user_values([values], release="clearml-agent")
    pc = task_pod_config(cfg)
    assert pc.secret == "my-conf" and pc.extra_lines() == []
    assert pc.env == () and "not copied" in pc.notes[0]  # a plain-text password is never copied into pods


def test_no_clearml_config_mounts_nothing() -> None:
    """CHART_5_3_2 agentk8sglue-deployment.yaml:70: without clearmlConfig the glue has no config file."""
    pod = _pod({"clearml": {"clearmlConfig": ""}, "agentk8sglue": {"queue": "red"}})
    assert not any("secret" in v for v in pod["spec"].get("volumes") or [])
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env[EXTRA_CONF_ENV]["value"].endswith("system_site_packages: true")


def test_live_deployment_secret_volume_is_followed() -> None:
    spec = {
        "containers": [
            {
                "name": "k8s-glue",
                "volumeMounts": [{"name": "conf", "mountPath": "/root/clearml.conf", "subPath": "clearml.conf"}],
            }
        ],
        "volumes": [{"name": "conf", "secret": {"secretName": "s", "items": [{"key": "k", "path": "clearml.conf"}]}}],
    }
    pc = config_from_glue_pod(spec, [])
    assert (pc.secret, pc.key) == ("s", "k")


def test_the_start_script_builds_the_reference_configuration(tmp_path: Path) -> None:
    """Run the real script in bash with a stub python: the agent sees image conf, agent conf, extra lines, in the
    reference's order, and the configuration's extra_docker_shell_script ran before it."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "clearml.conf").write_text("api { verify_certificate: true }\n")
    mounted = tmp_path / "clearml.conf"
    mounted.write_text(CONFIG + "\n")
    stub = tmp_path / "python"
    stub.write_text(
        "#!/bin/bash\n"
        'if [ "$1" = -m ] && [ "$2" = pip ]; then exit 0; fi\n'
        'if [ "$1" = -m ] && [ "$2" = clearml_agent ]; then echo "FROM_CONF=$FROM_CONF"; cat "$CLEARML_CONFIG_FILE";'
        " exit 0; fi\n"
        'if [ "$1" = -c ]; then code="${2//clearml_agent.external.pyhocon/pyhocon}"; shift 2;'
        f' exec {sys.executable} -c "$code" "$@"; fi\n'
        "exit 3\n"
    )
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    script = agent_script(TASK["id"], task_config=str(mounted))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "TMPDIR": str(tmp_path),
        "LOCAL_PYTHON": str(stub),
        "CLEARML_AGENT_SKIP_CONTAINER_APT": "1",
        EXTRA_CONF_ENV: "agent.package_manager.system_site_packages: true",
    }
    run = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "FROM_CONF=yes"
    body = "\n".join(lines[1:])
    assert body.index("verify_certificate") < body.index("s3-key-in-conf") < body.index("system_site_packages: true")
    assert not (home / "clearml.conf").read_text().count("s3")  # HOME is not written


def test_submit_pod_dry_run_shows_the_mount(clearml: ClearmlEmulator, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(VALUES))
    state = clearml.state
    state.create_queue("red")
    task_id = state.create_task("train", queue="red", container={"image": "python:3.11-slim"})
    result = run_cli(
        ["submit-pod", task_id, "--queue", "red", "-f", str(values), "--dry-run=client"],
        env=clearml.env(),
        home=str(tmp_path),
    )
    assert result.exit_code == 0, result.stderr
    pod = yaml.safe_load(result.stdout)
    assert any(v.get("secret", {}).get("secretName") == "clearml-agent-ac" for v in pod["spec"]["volumes"])
    assert "s3-key-in-conf" not in result.stdout
    assert "clearml.conf: the agent's, from Secret clearml-agent-ac key clearml.conf" in result.stderr


def test_the_in_pod_agent_of_the_sandbox_reads_the_mounted_configuration(world_oss: Any, tmp_path: Path) -> None:
    """submit-pod --logs against the seeded open-source install: the simulated agent in the pod reads the
    agent's Secret plus the glue's extra line, so system_site_packages is on (it is off without the mount)."""
    task_id = str(world_oss.clearml.state.create_task("t", queue="red", container={"image": "python:3.11-slim"}))
    result = run_cli(
        ["submit-pod", "-n", "clearml", task_id, "-q", "red", "--logs", "--timeout", "30"],
        env=world_oss.env,
        home=str(tmp_path),
    )
    assert result.exit_code == 0, result.stderr
    assert "clearml_agent: configuration from Secret clearml-agent-ac key clearml.conf + glue extra lines" in result.stdout
    assert "clearml_agent: agent.package_manager.system_site_packages = True" in result.stdout


def test_a_non_root_enterprise_glue_is_followed(world: Any, tmp_path: Path) -> None:
    """Enterprise ≥ 6.12.3 mounts under /home/nonroot (DOCS enterprise_agent_upgrade_6_12_3.md): the template
    ConfigMap and the clearml.conf Secret are still found from the live Deployment."""
    task_id = str(world.clearml.state.create_task("t", queue="green", container={"image": "python:3.11-slim"}))
    result = run_cli(
        ["submit-pod", "-n", "clearml", task_id, "-q", "green", "--dry-run=client"], env=world.env, home=str(tmp_path)
    )
    assert result.exit_code == 0, result.stderr
    pod = yaml.safe_load(result.stdout)
    assert pod["metadata"]["labels"]["team"] == "green"  # the per-queue template, read from the live ConfigMap
    assert any(v.get("secret", {}).get("secretName") == "clearml-agent-ac" for v in pod["spec"]["volumes"])
