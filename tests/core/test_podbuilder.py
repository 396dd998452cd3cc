"""The pure pod builder: conventions, translations, validation, and properties over generated input."""

from __future__ import annotations

import json
import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_clearml.core import docker_args
from kubectl_clearml.core.podbuilder import (
    BuiltPod,
    GlueSettings,
    QueueRef,
    agent_label,
    build_adhoc_pod,
    build_task_pod,
    safe_label_value,
    task_id_from_pod_name,
    validate_image,
)
from kubectl_clearml.errors import UsageError

TASK_ID = "0123456789abcdef0123456789abcdef"
QUEUE = QueueRef("4f6a7c1e9b2d4e8f", "k8s_glue")
SETTINGS = GlueSettings(
    worker_id="k8s-glue-agent",
    api_host="http://api.clearml:8008",
    web_host="http://web.clearml",
    files_host="http://files.clearml",
    credentials_secret="clearml-agent-ac",
)
CHART_TEMPLATE = {
    "apiVersion": "v1",
    "metadata": {"namespace": "clearml", "labels": {"team": "vision"}, "annotations": {"owner": "ml"}},
    "spec": {
        "serviceAccountName": "clearml-agent-sa",
        "containers": [
            {
                "name": "template-container",
                "image": "busybox",
                "args": ["sleep", "1"],
                "ports": [{"containerPort": 10022}],
                "resources": {"limits": {"memory": "8Gi", "nvidia.com/gpu": 1}},
                "env": [
                    {"name": "FOO", "value": "from-template"},
                    {"name": "FROM_TEMPLATE", "value": "1"},
                    {"name": "CLEARML_API_HOST", "value": "http://stale"},
                    {
                        "name": "CLEARML_API_ACCESS_KEY",
                        "valueFrom": {"secretKeyRef": {"name": "clearml-agent-ac", "key": "agentk8sglue_key"}},
                    },
                ],
            },
            {"name": "sidecar", "image": "busybox"},
        ],
    },
}


def task(**container: object) -> dict[str, object]:
    return {"id": TASK_ID, "name": "train resnet", "project": "proj-1", "container": dict(container)}


def env_of(built: BuiltPod) -> dict[str, dict[str, object]]:
    return {e["name"]: e for e in built.manifest["spec"]["containers"][0].get("env", [])}


def test_reference_conventions() -> None:
    t = {**task(image="python:3.11-slim"), "parent": "fedcba9876543210fedcba9876543210"}
    built = build_task_pod(t, QUEUE, CHART_TEMPLATE, SETTINGS, project_name="Vision")
    pod = built.manifest
    assert built.name == pod["metadata"]["name"] == f"clearml-id-{TASK_ID}"
    assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod"
    assert pod["metadata"]["labels"] == {
        "team": "vision",
        "CLEARML": "agent-74b23a8f",  # the reference doc's value for CLEARML_WORKER_ID=k8s-glue-agent
        "clearml-agent-queue": QUEUE.id,
        "clearml-agent-queue-name": "k8s-glue",
        "clearml-task-id": TASK_ID,
        "clearml-parent-task-id": "fedcba9876543210fedcba9876543210",
    }
    annotations = pod["metadata"]["annotations"]
    assert annotations["owner"] == "ml"
    assert annotations["clear.ml/task-name"] == "train resnet"
    assert annotations["clear.ml/project"] == "Vision"
    assert annotations["clear.ml/queue"] == "k8s_glue"
    assert pod["spec"]["restartPolicy"] == "Never"
    assert built.namespace == "clearml"
    first, sidecar = pod["spec"]["containers"]
    assert sidecar == {"name": "sidecar", "image": "busybox"}
    assert first["name"] == built.name and first["image"] == "python:3.11-slim"
    assert first["ports"] == [{"containerPort": 10022}]
    assert first["resources"] == {"limits": {"memory": "8Gi", "nvidia.com/gpu": 1}}
    assert "args" not in first  # the template's args would be passed to bash -c as $0...
    assert first["command"][:2] == ["/bin/bash", "-c"]
    assert f"clearml_agent execute --full-monitoring --require-queue --id {TASK_ID}" in first["command"][2]
    assert pod["spec"]["serviceAccountName"] == "clearml-agent-sa"


@pytest.mark.parametrize(
    ("worker_id", "label"),
    [("k8s-glue-test:15374", "agent-fd727514"), ("k8s-glue-test:17615", "agent-1859da84")],
)
def test_agent_label_matches_reference_hashes(worker_id: str, label: str) -> None:
    assert agent_label(worker_id) == label


def test_env_merged_by_name_task_wins_and_credentials_only_by_reference() -> None:
    t = task(image="python:3.11", arguments="-e FOO=bar --env HELLO=world -e CLEARML_API_SECRET_KEY=leaked1234")
    built = build_task_pod(t, QUEUE, CHART_TEMPLATE, SETTINGS)
    env = env_of(built)
    assert env["FOO"] == {"name": "FOO", "value": "bar"}
    assert env["HELLO"]["value"] == "world"
    assert env["FROM_TEMPLATE"]["value"] == "1"
    assert env["CLEARML_API_HOST"]["value"] == "http://api.clearml:8008"
    assert env["CLEARML_WEB_HOST"]["value"] == "http://web.clearml"
    assert env["CLEARML_FILES_HOST"]["value"] == "http://files.clearml"
    assert env["CLEARML_WORKER_ID"]["value"] == f"k8s-glue-agent:{TASK_ID}"
    for name, key in (
        ("CLEARML_API_ACCESS_KEY", "agentk8sglue_key"),
        ("CLEARML_API_SECRET_KEY", "agentk8sglue_secret"),
    ):
        assert env[name] == {"name": name, "valueFrom": {"secretKeyRef": {"name": "clearml-agent-ac", "key": key}}}
    assert "leaked1234" not in json.dumps(built.manifest)
    assert any("CLEARML_API_SECRET_KEY" in note for note in built.notes)
    # Template order kept, new names appended.
    names = list(env)
    assert names.index("FOO") < names.index("FROM_TEMPLATE") < names.index("HELLO")


def test_plain_credentials_in_template_are_removed_without_a_secret() -> None:
    template = {
        "spec": {"containers": [{"name": "c", "env": [{"name": "CLEARML_API_SECRET_KEY", "value": "s3cr3t!!"}]}]}
    }
    built = build_task_pod(task(image="alpine"), QUEUE, template, GlueSettings(worker_id="w"))
    assert "s3cr3t!!" not in json.dumps(built.manifest)
    assert any("plain value removed" in note for note in built.notes)


def test_shm_size_becomes_memory_emptydir() -> None:
    built = build_task_pod(task(image="alpine", arguments="--shm-size=8g --ipc=host"), QUEUE, CHART_TEMPLATE, SETTINGS)
    spec = built.manifest["spec"]
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}} in spec["volumes"]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in spec["containers"][0]["volumeMounts"]
    assert "hostIPC" not in spec
    assert built.dropped == ()
    assert built.status_message() == ""


def test_ipc_host_alone_sizes_shm_from_the_memory_limit() -> None:
    built = build_task_pod(task(image="alpine", arguments="--ipc host"), QUEUE, CHART_TEMPLATE, SETTINGS)
    volumes = built.manifest["spec"]["volumes"]
    assert volumes == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "4Gi"}}]  # half of 8Gi
    assert any("--ipc=host" in note for note in built.notes)


def test_existing_template_shm_is_resized_not_duplicated() -> None:
    template = {
        "spec": {
            "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}],
            "containers": [{"name": "c", "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}]}],
        }
    }
    built = build_task_pod(task(image="alpine", arguments="--shm-size 512m"), QUEUE, template, SETTINGS)
    spec = built.manifest["spec"]
    assert spec["volumes"] == [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "512Mi"}}]
    assert spec["containers"][0]["volumeMounts"] == [{"name": "shm", "mountPath": "/dev/shm"}]


def test_other_docker_arguments_are_reported() -> None:
    args = "--gpus all -v /data:/data --network=host --privileged -e ONLY_NAME"
    built = build_task_pod(task(image="alpine", arguments=args), QUEUE, None, SETTINGS)
    assert built.dropped == ("--gpus all", "-v /data:/data", "--network=host", "--privileged")
    assert built.status_message() == (
        "docker arguments not applied on Kubernetes: --gpus all, -v /data:/data, --network=host, --privileged"
    )
    assert env_of(built)["ONLY_NAME"]["value"] == ""  # `-e C` is C="" as in the reference (k8s.py:846-870)


def test_default_image_setup_script_and_exit_code() -> None:
    t = task(setup_shell_script="apt-get install -y libgl1\nexport X=1")
    settings_ = GlueSettings(worker_id="w", default_image="nvidia/cuda:12.2.0-runtime-ubuntu22.04", install_agent=False)
    built = build_task_pod(t, QUEUE, None, settings_)
    container = built.manifest["spec"]["containers"][0]
    assert container["image"] == "nvidia/cuda:12.2.0-runtime-ubuntu22.04"
    script = container["command"][2]
    assert "pip install" not in script
    assert script.index("export X=1") < script.index("clearml_agent execute")
    assert script.rstrip().splitlines()[-1].startswith('exec "$LOCAL_PYTHON" -m clearml_agent execute')
    assert "exit 0" not in script and ">>" not in script


def test_legacy_docker_cmd() -> None:
    t = {"id": TASK_ID, "execution": {"docker_cmd": "pytorch/pytorch:2.1 -e A=1 --shm-size 1g"}}
    built = build_task_pod(t, QUEUE, None, SETTINGS)
    assert built.manifest["spec"]["containers"][0]["image"] == "pytorch/pytorch:2.1"
    assert env_of(built)["A"]["value"] == "1"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ({"kind": "Job", "spec": {}}, "kind 'Job', not a Pod"),
        ({"agentk8sglue": {"queue": "default"}}, "not a pod spec: unexpected keys agentk8sglue"),
        (["not", "a", "map"], "not a mapping"),
        ({"spec": {"containers": "oops"}}, "must be a list of containers"),
        ({"spec": []}, "must be mappings"),
    ],
)
def test_templates_that_are_not_pods_are_refused(template: object, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        build_task_pod(task(image="alpine"), QUEUE, template, SETTINGS)  # type: ignore[arg-type]


def test_bare_pod_spec_and_empty_template_are_accepted() -> None:
    bare = build_task_pod(
        task(image="alpine"), QUEUE, {"containers": [{"name": "c"}], "nodeSelector": {"a": "b"}}, SETTINGS
    )
    assert bare.manifest["spec"]["nodeSelector"] == {"a": "b"}
    empty = build_task_pod(task(image="alpine"), QUEUE, {}, SETTINGS)
    assert [c["name"] for c in empty.manifest["spec"]["containers"]] == [empty.name]
    assert empty.namespace is None
    assert (
        build_task_pod(task(image="alpine"), QUEUE, {}, GlueSettings(worker_id="w", namespace="ml")).namespace == "ml"
    )


@pytest.mark.parametrize("image", ["Python:3.11", "python 3.11", "python:3.11 --ipc=host", ":latest", "a//b", ""])
def test_invalid_images(image: str) -> None:
    with pytest.raises(UsageError, match="invalid image name"):
        validate_image(image)


@pytest.mark.parametrize(
    "image",
    [
        "alpine",
        "python:3.11-slim",
        "nvcr.io/nvidia/pytorch:24.01-py3",
        "localhost:5000/a/b_c:v1",
        f"alpine@sha256:{'a' * 64}",
    ],
)
def test_valid_images(image: str) -> None:
    assert validate_image(image) == image


def test_bad_task_input() -> None:
    with pytest.raises(UsageError, match="no id"):
        build_task_pod({"name": "x"}, QUEUE, None, SETTINGS)
    with pytest.raises(UsageError, match="cannot name a pod"):
        build_task_pod({"id": "Not A Task"}, QUEUE, None, SETTINGS)
    with pytest.raises(UsageError, match="cannot be parsed"):
        build_task_pod(task(image="alpine", arguments="-e 'unterminated"), QUEUE, None, SETTINGS)
    with pytest.raises(UsageError, match="invalid --shm-size"):
        build_task_pod(task(image="alpine", arguments="--shm-size lots"), QUEUE, None, SETTINGS)


@pytest.mark.parametrize(
    ("docker", "quantity"),
    [
        ("8g", "8Gi"),
        ("512m", "512Mi"),
        ("1.5g", "1536Mi"),
        ("1048576", "1Mi"),
        ("64MB", "64Mi"),
        ("2GiB", "2Gi"),
        ("100", "100"),
    ],
)
def test_docker_sizes(docker: str, quantity: str) -> None:
    assert docker_args.docker_size_to_quantity(docker) == quantity


def test_safe_label_value() -> None:
    assert safe_label_value("k8s_glue") == "k8s-glue"
    assert safe_label_value("GPU Queue #1") == "gpu-queue-1"  # runs of "-" collapse (k8s.py:1580)
    assert safe_label_value("gpu_") == "gpu"
    assert len(safe_label_value("q" * 100)) == 63


def test_adhoc_pod() -> None:
    built = build_adhoc_pod(
        "nvidia/cuda:12.2.0-base", ["nvidia-smi", "-L"], QUEUE, CHART_TEMPLATE, SETTINGS, run_id="a1b2c3"
    )
    pod = built.manifest
    assert built.name == "clearml-adhoc-a1b2c3"
    assert "CLEARML" not in pod["metadata"]["labels"]  # the glue neither counts nor tracks it
    assert pod["metadata"]["labels"]["clearml-adhoc"] == "true"
    first = pod["spec"]["containers"][0]
    assert first["command"] == ["nvidia-smi", "-L"] and "args" not in first
    assert first["resources"]["limits"]["nvidia.com/gpu"] == 1
    with pytest.raises(UsageError, match="needs a command"):
        build_adhoc_pod("alpine", [], QUEUE, None, SETTINGS, run_id="x")


def test_task_id_from_pod_name() -> None:
    assert task_id_from_pod_name(f"clearml-id-{TASK_ID}") == TASK_ID
    assert task_id_from_pod_name("other-pod") is None


# ---- properties -------------------------------------------------------------------------------------------

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# A marker keeps a generated secret from being a substring of another generated field (e.g. a task id "000…").
secret_text = st.builds(
    lambda body: f"sk~{body}~",
    st.text(alphabet=string.ascii_letters + string.digits + "+/=!@", min_size=10, max_size=40),
)
env_name = st.from_regex(r"[A-Z_][A-Z0-9_]{0,12}", fullmatch=True)
env_value = st.text(alphabet=string.ascii_letters + string.digits + "-./:", max_size=12)
env_entry = st.builds(lambda n, v: {"name": n, "value": v}, env_name, env_value)
queue_names = st.text(min_size=1, max_size=100)


@st.composite
def inputs(draw: st.DrawFn) -> tuple[dict[str, object], QueueRef, dict[str, object], GlueSettings, list[str]]:
    secrets = [draw(secret_text), draw(secret_text)]
    task_env = draw(st.lists(st.tuples(env_name, env_value), max_size=5))
    args = [f"-e {n}={v}" for n, v in task_env]
    args += [f"--env CLEARML_API_ACCESS_KEY={secrets[0]}", f"-e CLEARML_API_SECRET_KEY={secrets[1]}"]
    args += draw(st.lists(st.sampled_from(["--ipc=host", "--shm-size 2g", "--gpus all", "-v /a:/b", "--privileged"])))
    template_env = draw(st.lists(env_entry, max_size=5))
    template_env.append(
        {"name": draw(st.sampled_from(["CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY"])), "value": secrets[0]}
    )
    template = {"metadata": {"labels": {"team": "x"}}, "spec": {"containers": [{"name": "c", "env": template_env}]}}
    t = {
        "id": draw(st.from_regex(r"[0-9a-f]{32}", fullmatch=True)),
        "name": draw(st.text(max_size=30)),
        "parent": draw(st.one_of(st.none(), st.text(max_size=80))),
        "container": {"image": "python:3.11", "arguments": " ".join(draw(st.permutations(args)))},
    }
    queue = QueueRef(draw(st.text(min_size=1, max_size=80)), draw(queue_names))
    glue = GlueSettings(
        worker_id=draw(st.text(min_size=1, max_size=40)),
        api_host="http://api",
        credentials_secret=draw(st.one_of(st.none(), st.just("clearml-agent-ac"))),
    )
    return t, queue, template, glue, secrets


@settings(max_examples=150, deadline=None)
@given(inputs())
def test_properties(case: tuple[dict[str, object], QueueRef, dict[str, object], GlueSettings, list[str]]) -> None:
    t, queue, template, glue, secrets = case
    built = build_task_pod(t, queue, template, glue)
    text = json.dumps(built.manifest)
    for secret in secrets:
        assert secret not in text
    env = built.manifest["spec"]["containers"][0]["env"]
    names = [e["name"] for e in env]
    assert len(names) == len(set(names))
    for e in env:
        if e["name"] in ("CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY"):
            assert "value" not in e and e["valueFrom"]["secretKeyRef"]["name"] == "clearml-agent-ac"
    for key, value in built.manifest["metadata"]["labels"].items():
        assert len(value) <= 63 and LABEL_VALUE.match(value), (key, value)
    assert build_task_pod(t, queue, template, glue).manifest == built.manifest  # deterministic
    assert template["spec"]["containers"][0]["name"] == "c"  # input untouched  # type: ignore[index]


@given(st.text(max_size=200))
def test_safe_label_value_is_always_valid(text: str) -> None:
    value = safe_label_value(text)
    assert len(value) <= 63 and LABEL_VALUE.match(value)


docker_token = st.one_of(
    st.sampled_from(["-e", "--env", "--shm-size", "--ipc=host", "--ipc", "host", "-v", "--gpus", "all", "8g", "-eA=1"]),
    st.text(alphabet=string.ascii_letters + string.digits + "=-_:/.", max_size=12),
)


@given(st.lists(docker_token, max_size=12))
def test_docker_translation_accounts_for_every_token(tokens: list[str]) -> None:
    try:
        result = docker_args.translate(tokens)
    except docker_args.DockerArgumentError as exc:
        assert "--shm-size" in str(exc)  # the only way a token list can be refused
        return
    joined = " ".join(t for t in tokens if t)
    for name, value in result.env:
        assert name and "=" not in name
        # `-e NAME` (no "=") gives NAME="", as the reference glue does (k8s.py:846-870)
        assert any(token.endswith(f"{name}={value}") or (value == "" and token.endswith(name)) for token in tokens)
    for dropped in result.dropped:
        assert dropped and dropped in joined  # reported as the user wrote it
    if tokens and tokens[0] == "--ipc=host":
        assert result.ipc_host
    # Nothing vanishes silently: every token is honoured (env, shm, ipc) or reported as dropped.
    reported = sum(len(d.split(" ")) for d in result.dropped)
    honoured = len([t for t in tokens if t]) - reported
    assert honoured >= len(result.env) + (result.shm_size is not None) + result.ipc_host
    repeatable = sum(1 for t in tokens if t.startswith(("--shm-size", "--ipc")))  # the last one wins
    assert honoured <= 2 * (len(result.env) + repeatable)
