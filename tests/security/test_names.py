"""Names that reach request paths and label selectors follow Kubernetes' and Helm's rules (issue 21 item 12)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubectl_clearml.core.names import dns_label_problem, release_name_problem
from tests.helpers import run_cli


@pytest.mark.parametrize("args", [
    ["queues", "-n", "../x"],
    ["gpu-report", "-n", "kube-system/../default"],
    ["shm-fix", "--check", "-n", "Default"],
    ["submit-pod", "t", "-q", "q", "--namespace", "a" * 64],
])
def test_a_namespace_that_is_not_a_dns_label_is_refused(tmp_path, args):
    result = run_cli(args, home=str(tmp_path))
    assert result.exit_code == 2 and "is not a valid namespace" in result.stderr, result.stderr


@pytest.mark.parametrize("args", [
    ["shm-fix", "--rollback", "--release", "x,status!=deployed"],
    ["gpu-report", "--release", "../x"],
    ["run-glue", "--queue", "q", "--release", "UPPER"],
    ["glue", "status", "--release", "a b"],
])
def test_a_release_name_helm_would_refuse_is_refused(tmp_path, args):
    result = run_cli(args, home=str(tmp_path))
    assert result.exit_code == 2 and "is not a valid release name" in result.stderr, result.stderr


def test_a_kubeconfig_context_namespace_is_checked_too(kube, tmp_path):
    path = kube.write_kubeconfig(tmp_path / "kubeconfig", namespace="../kube-system", context="sandbox")
    result = run_cli(["gpu-report", "--kubeconfig", str(path)], home=str(tmp_path))
    assert result.exit_code == 2 and "has namespace '../kube-system'" in result.stderr, result.stderr
    assert run_cli(["gpu-report", "--kubeconfig", str(path), "-n", "default"], home=str(tmp_path)).exit_code == 0


LABEL = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)


@given(LABEL)
def test_every_dns_label_passes(name):
    assert dns_label_problem(name) is None
    if len(name) <= 53:
        assert release_name_problem(name) is None


@given(st.text(min_size=1, max_size=70))
def test_no_name_with_a_slash_dot_dot_or_comma_passes(name):
    if any(c in name for c in "/,=! ") or ".." in name:
        assert dns_label_problem(name) is not None and release_name_problem(name) is not None
