"""RBAC in the Kubernetes emulator, driven by real clients: `kubectl auth can-i` and the typed python client.

kubectl sends no credentials to an http:// server (clientcmd keeps auth info for TLS only), so kubectl tests
act as another identity through impersonation (`--as`), which the admin may do; the python client sends its
bearer token over http, so it tests per-token identities directly.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import requests

NS = "clearml"
SA = "system:serviceaccount:clearml:agent-sa"
RBAC = "rbac.authorization.k8s.io/v1"

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def seed_rbac(kube) -> None:
    kube.store.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    kube.store.add({"apiVersion": RBAC, "kind": "Role", "metadata": {"name": "agent", "namespace": NS},
                    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "create"]},
                              {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                              {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"],
                               "resourceNames": ["template"]}]})
    kube.store.add({"apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": "agent", "namespace": NS},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "agent"},
                    "subjects": [{"kind": "ServiceAccount", "name": "agent-sa", "namespace": NS}]})
    kube.store.add({"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "node-reader"},
                    "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]})
    kube.store.add({"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": "all-sa-read-nodes"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "node-reader"},
                    "subjects": [{"kind": "Group", "name": "system:serviceaccounts"}]})


def can_i(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "auth", "can-i", *args],
                          capture_output=True, text=True, timeout=30)


@needs_kubectl
def test_kubectl_auth_can_i_answers_from_roles_bindings_and_groups(kube, kubeconfig):
    seed_rbac(kube)
    admin = can_i(kubeconfig, "delete", "secrets", "-n", NS)
    assert (admin.returncode, admin.stdout.strip()) == (0, "yes"), admin.stderr
    as_sa = ("--as", SA, "-n", NS)
    assert can_i(kubeconfig, "create", "pods", *as_sa).stdout.strip() == "yes"
    assert can_i(kubeconfig, "get", "pods", "--subresource=log", *as_sa).stdout.strip() == "yes"
    denied = can_i(kubeconfig, "delete", "pods", *as_sa)
    assert (denied.returncode, denied.stdout.strip()) == (1, "no")
    assert can_i(kubeconfig, "list", "pods", "--as", SA, "-n", "default").stdout.strip() == "no"  # binding is per ns
    assert can_i(kubeconfig, "get", "configmaps/template", *as_sa).stdout.strip() == "yes"
    assert can_i(kubeconfig, "get", "configmaps/other", *as_sa).stdout.strip() == "no"  # resourceNames
    assert can_i(kubeconfig, "list", "nodes", "--as", SA).stdout.strip() == "yes"  # ClusterRoleBinding to a group
    whoami = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "auth", "whoami", "--as", SA, "-o", "json"],
                            capture_output=True, text=True, timeout=30)
    assert whoami.returncode == 0, whoami.stderr
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == SA and "system:serviceaccounts:clearml" in user["groups"]
    listing = can_i(kubeconfig, "--list", *as_sa)
    assert listing.returncode == 0
    assert any(line.split()[:1] == ["pods"] and "[get list watch create]" in line for line in listing.stdout.splitlines())


@needs_kubectl
def test_kubectl_as_a_restricted_identity_gets_the_apiservers_403(kube, kubeconfig):
    seed_rbac(kube)
    result = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "--as", SA, "-n", NS, "get", "secrets"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert ('Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:clearml:agent-sa" '
            'cannot list resource "secrets" in API group "" in the namespace "clearml"') in result.stderr


@needs_kubectl
def test_health_endpoints_answer_ok(kube, kubeconfig):
    for path in ("/healthz", "/livez", "/readyz", "/readyz/ping"):
        result = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "get", "--raw", path],
                                capture_output=True, text=True, timeout=30)
        assert (result.returncode, result.stdout) == (0, "ok"), path
    verbose = requests.get(f"{kube.url}/readyz?verbose", timeout=5).text
    assert "[+]ping ok" in verbose and verbose.rstrip().endswith("readyz check passed")
    assert requests.get(f"{kube.url}/readyz/nosuchcheck", timeout=5).status_code == 404


def typed_client(kube, tmp_path, token: str, user: str | None = None):
    from kubernetes import client, config

    path = kube.write_kubeconfig(tmp_path / f"kc-{token}", namespace=NS, user_token=token, user=user)
    return config.new_client_from_config(config_file=path), client


def test_typed_client_tokens_are_checked_per_identity(kube, tmp_path):
    from kubernetes.client.exceptions import ApiException

    seed_rbac(kube)
    api_client, client = typed_client(kube, tmp_path, "agent-token", SA)
    core = client.CoreV1Api(api_client)
    assert core.list_namespaced_pod(NS).items == []
    with pytest.raises(ApiException) as denied:
        core.list_namespaced_secret(NS)
    assert denied.value.status == 403
    assert f'User "{SA}" cannot list resource "secrets"' in json.loads(denied.value.body)["message"]
    stranger = requests.get(f"{kube.url}/api/v1/namespaces/{NS}/pods", timeout=5,
                            headers={"Authorization": "Bearer not-a-known-token"})
    assert (stranger.status_code, stranger.json()["reason"]) == (401, "Unauthorized")
    impersonating = requests.get(f"{kube.url}/api/v1/namespaces/{NS}/pods", timeout=5,
                                 headers={"Authorization": "Bearer agent-token", "Impersonate-User": "admin"})
    assert impersonating.status_code == 403
    assert impersonating.json()["message"] == (f'users "admin" is forbidden: User "{SA}" cannot impersonate resource '
                                               '"users" in API group "" at the cluster scope')


def test_typed_client_access_reviews_self_and_subject(kube, tmp_path):
    from kubernetes.client.exceptions import ApiException

    seed_rbac(kube)
    restricted, client = typed_client(kube, tmp_path, "agent-token", SA)
    auth = client.AuthorizationV1Api(restricted)
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=client.V1ResourceAttributes(namespace=NS, verb="delete", resource="pods")))
    assert auth.create_self_subject_access_review(review).status.allowed is False
    review.spec.resource_attributes.verb = "create"
    answer = auth.create_self_subject_access_review(review).status
    assert answer.allowed is True and 'RoleBinding "agent/clearml" of Role "agent"' in answer.reason
    subject = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
        user=SA, resource_attributes=client.V1ResourceAttributes(namespace=NS, verb="watch", resource="pods")))
    with pytest.raises(ApiException) as forbidden:  # asking about others needs create subjectaccessreviews
        auth.create_subject_access_review(subject)
    assert forbidden.value.status == 403
    admin, _ = typed_client(kube, tmp_path, "admin-token")
    admin_auth = client.AuthorizationV1Api(admin)
    assert admin_auth.create_subject_access_review(subject).status.allowed is True
    subject.spec.resource_attributes.verb = "patch"
    assert admin_auth.create_subject_access_review(subject).status.allowed is False
    local = client.V1LocalSubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
        user=SA, resource_attributes=client.V1ResourceAttributes(verb="list", resource="pods")))
    assert admin_auth.create_namespaced_local_subject_access_review(NS, local).status.allowed is True
    assert admin_auth.create_namespaced_local_subject_access_review("default", local).status.allowed is False
    kube.deny("watch", "pods", NS)  # a test's deny rule says "no" in reviews as on requests
    subject.spec.resource_attributes.verb = "watch"
    assert admin_auth.create_subject_access_review(subject).status.allowed is False


def test_rule_matching_properties():
    from hypothesis import given
    from hypothesis import strategies as st

    from kubectl_clearml.sandbox.kube.rbac import Attributes, rule_allows

    words = st.sampled_from(["get", "list", "watch", "create", "delete", "patch"])
    plurals = st.sampled_from(["pods", "secrets", "configmaps", "deployments"])

    @given(words, plurals, st.sampled_from(["", "log", "status"]), st.sampled_from(["", "x", "y"]))
    def check(verb, plural, sub, name):
        attributes = Attributes("u", (), verb, "", plural, sub, "ns", name)
        assert rule_allows({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, attributes)
        exact = {"verbs": [verb], "apiGroups": [""], "resources": [f"{plural}/{sub}" if sub else plural]}
        assert rule_allows(exact, attributes)
        assert rule_allows({**exact, "resources": [f"{plural}/*"]}, attributes) == bool(sub)
        named = {**exact, "resourceNames": ["x"]}
        assert rule_allows(named, attributes) == (name == "x")  # a named rule never grants a whole collection
        assert not rule_allows({**exact, "apiGroups": ["apps"]}, attributes)

    check()
