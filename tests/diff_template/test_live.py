"""diff-template against a live install in the Kubernetes emulator: Helm release Secrets, live objects only
(Argo CD), --rendered, --live, and the errors (no install, no release, corrupt Secret, forbidden Secrets)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_clearml.adapters.agent_install import find_install
from kubectl_clearml.adapters.kube_connect import connect
from kubectl_clearml.core.chart_defaults import oss_defaults
from tests.diff_template.helm_objects import glue_deployment, manifest, release_secret, template_configmap
from tests.helpers import run_cli

NS = "ml"


def dt(env: dict[str, str], tmp_path: Path, *args: str):
    return run_cli(["diff-template", *args], env={**env, "NO_COLOR": "1"}, home=str(tmp_path))


@pytest.fixture
def env(kube, tmp_path) -> dict[str, str]:
    kube.store.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    return {"KUBECONFIG": kube.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)}


def _one_line_error(r: Any, code: int, text: str) -> None:
    assert r.exit_code == code, (r.stdout, r.stderr)
    errors = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1 and text in errors[0], r.stderr
    assert "Traceback" not in r.stderr


# --- the seeded demo world (release Secrets written by the sandbox) -------------------------------------


def test_enterprise_world_green_and_rendered(world, tmp_path):
    r = dt(world.env, tmp_path, "green", "-n", "clearml")
    assert r.exit_code == 1, r.stderr
    assert "+    team: green" in r.stdout and "+        memory: 2Gi" in r.stdout
    assert "from release clearml-agent (clearml-enterprise-agent 6.14.1, revision 1)" in r.stderr
    # Our rendering of the release values equals the live ConfigMap's per-queue template.yaml.
    r = dt(world.env, tmp_path, "--rendered", "-n", "clearml")
    assert (r.exit_code, r.stdout) == (0, ""), r.stdout
    r = dt(world.env, tmp_path, "--show", "GPUshm", "-n", "clearml", "-o", "json")
    pod = json.loads(r.stdout)
    assert pod["spec"]["containers"][0]["volumeMounts"] == [{"name": "dshm", "mountPath": "/dev/shm"}]


def test_rendered_catches_a_merge_rule_mismatch(world, tmp_path):
    # With --merge replace, GPU queues would lose the base's 1Gi: the live template keeps it.
    r = dt(world.env, tmp_path, "--rendered", "1xGPU", "-n", "clearml", "--merge", "replace")
    assert r.exit_code == 1
    assert "-        memory: 1Gi" not in r.stdout and "+        memory: 1Gi" in r.stdout


def test_oss_world(world_oss, tmp_path):
    r = dt(world_oss.env, tmp_path, "--all", "-n", "clearml")
    assert r.exit_code == 0
    assert "open-source chart" in r.stderr
    r = dt(world_oss.env, tmp_path, "--rendered", "-n", "clearml")
    assert (r.exit_code, r.stdout) == (0, "")


def test_live_values_against_the_release(world, tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {"agentk8sglue": {"queues": {"green": {"templateOverrides": {"resources": {"limits": {"memory": "4Gi"}}}}}}}
        )
    )
    r = dt(world.env, tmp_path, "--live", "--reuse-values", "-f", str(overlay), "-n", "clearml")
    assert r.exit_code == 1, r.stderr
    assert r.stdout.count("--- live/") == 1 and "--- live/green\n+++ values/green" in r.stdout
    assert "-        memory: 2Gi" in r.stdout and "+        memory: 4Gi" in r.stdout
    # Without --reuse-values, the overlay alone replaces the release values: every queue but green vanishes.
    r = dt(world.env, tmp_path, "--live", "-f", str(overlay), "-n", "clearml", "-o", "structured")
    report = {entry["name"]: entry["changeType"] for entry in json.loads(r.stdout)}
    assert report["red"] == "REMOVE" and report["green"] == "MODIFY"


def test_live_and_rendered_lint_the_values_files_too(world, tmp_path):
    new = tmp_path / "new.yaml"
    new.write_text(
        yaml.safe_dump({"agentk8sglue": {"queues": {"blue": {"templateOverrides": {"nodeSelectors": {"a": "b"}}}}}})
    )
    typo = "agentk8sglue.queues.blue.templateOverrides.nodeSelectors: unknown key (did you mean 'nodeSelector'?)"
    lint = dt(world.env, tmp_path, "--live", "--reuse-values", "--lint", "-f", str(new), "-n", "clearml")
    assert lint.exit_code == 1 and typo in lint.stdout, (lint.stdout, lint.stderr)
    # Without --reuse-values the upgrade drops the release's credentials: the chart's ACCESSKEY come back.
    reset = dt(world.env, tmp_path, "--live", "--lint", "-f", str(new), "-n", "clearml")
    assert typo in reset.stdout and "ACCESSKEY/SECRETKEY" in reset.stdout
    diff = dt(world.env, tmp_path, "--live", "--reuse-values", "-f", str(new), "-n", "clearml")
    assert diff.exit_code == 0 and typo in diff.stderr  # the chart drops the key: no difference, but said
    rendered = dt(world.env, tmp_path, "--rendered", "-f", str(new), "-n", "clearml")
    assert typo in rendered.stderr


def test_forbidden_release_secrets(world, tmp_path):
    world.kube.deny("list", "secrets", "clearml")
    r = dt(world.env, tmp_path, "green", "-n", "clearml")
    _one_line_error(r, 4, "forbidden")
    assert "list secrets" in r.stderr


# --- installs built here, the way Helm writes them ----------------------------------------------------------


def _oss_install(kube, *, release="agent", revisions=((1, "superseded"), (2, "deployed")), label="team-a"):
    cm = template_configmap(
        f"{release}-templates", NS, {"apiVersion": "v1", "metadata": {"labels": {"team": label}}, "spec": {}}
    )
    deployment = glue_deployment(release, NS, f"{release}-templates", "cpu,gpu")
    for version, status in revisions:
        config = {"agentk8sglue": {"queue": "cpu,gpu", "basePodTemplate": {"labels": {"team": f"rev{version}"}}}}
        kube.store.add(
            release_secret(
                release,
                NS,
                version,
                status=status,
                chart_values=oss_defaults(),
                config=config,
                manifest=manifest(cm, deployment),
            )
        )
    kube.store.add(cm)
    kube.store.add(deployment)


def test_release_secret_decoding_picks_the_latest_deployed_revision(kube, env, tmp_path):
    _oss_install(kube, revisions=((1, "superseded"), (2, "deployed"), (3, "failed")))
    install = find_install(connect(env["KUBECONFIG"], env={}), NS)
    assert install.source == "helm-release" and install.release is not None
    assert (install.release.name, install.release.version, install.release.chart_version) == ("agent", 2, "5.3.2")
    assert install.configmap_name == "agent-templates"  # from the Deployment's /root/template mount, not "-pt"
    assert install.served_queues == ["cpu", "gpu"]
    cfg = install.config
    assert cfg.flavour == "oss" and cfg.queues == ["cpu", "gpu"]
    assert cfg.base_template["metadata"]["labels"] == {"team": "rev2"}
    assert cfg.base_template["spec"]["serviceAccountName"] == "agent-clearml-agent-sa"


def test_release_by_name_and_legacy_uncompressed_release(kube, env, tmp_path):
    kube.store.add(
        release_secret(
            "old",
            NS,
            1,
            chart_values=oss_defaults(),
            config={"agentk8sglue": {"queue": "q"}},
            manifest=manifest(glue_deployment("old", NS, "old-pt", "q")),
            gzipped=False,
        )
    )
    kube.store.add(release_secret("other-app", NS, 4, chart_name="redis", chart_version="1.0"))
    r = dt(env, tmp_path, "--show", "q", "--release", "old")
    assert r.exit_code == 0, r.stderr
    assert yaml.safe_load(r.stdout)["spec"]["serviceAccountName"] == "old-clearml-agent-sa"
    assert "the release's Deployment old is not in the cluster" in r.stderr
    # without --release the agent release is found among other charts' releases
    assert dt(env, tmp_path, "--show", "q").exit_code == 0


def test_install_without_release_secret_uses_live_objects(kube, env, tmp_path):
    templates = {
        "red": {"apiVersion": "v1", "metadata": {"labels": {"team": "red"}}, "spec": {"containers": [{"env": []}]}},
        "blue": {"apiVersion": "v1", "metadata": {"labels": {"team": "blue"}}, "spec": {"containers": [{"env": []}]}},
    }
    kube.store.add(template_configmap("argo-agent-tpl", NS, templates))
    kube.store.add(
        glue_deployment("argo-agent", NS, "argo-agent-tpl", "red blue", chart="clearml-enterprise-agent-6.14.1")
    )
    r = dt(env, tmp_path, "red", "blue")
    assert r.exit_code == 1, r.stderr
    assert "-    team: red" in r.stdout and "+    team: blue" in r.stdout
    assert "no Helm release Secret" in r.stderr and "its live Deployment and ConfigMap" in r.stderr
    r = dt(env, tmp_path, "--show", "blue", "-o", "json")
    assert json.loads(r.stdout)["metadata"]["labels"] == {"team": "blue"}
    _one_line_error(dt(env, tmp_path, "red"), 2, "no readable base")
    _one_line_error(dt(env, tmp_path, "--rendered"), 2, "no release values")


def test_no_install(kube, env, tmp_path):
    _one_line_error(dt(env, tmp_path, "red"), 3, "no ClearML agent install found")


def test_no_release_with_that_name(kube, env, tmp_path):
    _oss_install(kube)
    _one_line_error(dt(env, tmp_path, "cpu", "--release", "nope"), 3, "no deployed Helm release named 'nope'")


def test_corrupt_release_secret(kube, env, tmp_path):
    secret = release_secret("agent", NS, 1, chart_values=oss_defaults())
    secret["data"]["release"] = base64.b64encode(b"H4sIAAAAnot-a-gzip-stream").decode()
    kube.store.add(secret)
    _one_line_error(
        dt(env, tmp_path, "cpu"), 2, "cannot decode the Helm release Secret (secret ml/sh.helm.release.v1.agent.v1)"
    )


def test_unknown_queue_in_live_install(kube, env, tmp_path):
    _oss_install(kube)
    _one_line_error(dt(env, tmp_path, "gpus"), 3, "unknown queue 'gpus': did you mean 'gpu'?")


def test_several_agent_releases_need_a_choice(kube, env, tmp_path):
    _oss_install(kube, release="a1", revisions=((1, "deployed"),))
    _oss_install(kube, release="a2", revisions=((1, "deployed"),))
    _one_line_error(
        dt(env, tmp_path, "cpu"), 2, "several agent releases in namespace ml: a1 (clearml-agent), a2 (clearml-agent)"
    )
    assert dt(env, tmp_path, "cpu", "--release", "a2").exit_code == 0


def test_lint_of_a_live_template(kube, env, tmp_path):
    broken = {
        "apiVersion": "v1",
        "spec": {"containers": [{"volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}]}], "nodeSelectors": {}},
    }
    kube.store.add(template_configmap("t", NS, broken))
    kube.store.add(glue_deployment("g", NS, "t", "q"))
    r = dt(env, tmp_path, "--lint")
    assert r.exit_code == 1
    assert "live template.spec.nodeSelectors: not a valid key of PodSpec (did you mean 'nodeSelector'?)" in r.stdout
    assert "volumeMount 'dshm' at /dev/shm has no volume" in r.stdout


def test_enterprise_overrides_on_the_oss_chart_are_flagged(kube, env, tmp_path):
    # clearml-agent#237: enterprise `queues.*.templateOverrides` given to the open-source chart do nothing.
    config = {
        "agentk8sglue": {
            "queue": "cpu,gpu",
            "queues": {"gpu": {"templateOverrides": {"resources": {"limits": {"nvidia.com/gpu": 1}}}}},
        }
    }
    deployment = glue_deployment("agent", NS, "agent-pt", "cpu,gpu")
    kube.store.add(
        release_secret("agent", NS, 1, chart_values=oss_defaults(), config=config, manifest=manifest(deployment))
    )
    kube.store.add(deployment)
    r = dt(env, tmp_path, "gpu")
    assert (r.exit_code, r.stdout) == (0, "")
    assert "agentk8sglue.queues: an enterprise key: the open-source chart ignores it" in r.stderr
    assert "ACCESSKEY/SECRETKEY" in r.stderr
