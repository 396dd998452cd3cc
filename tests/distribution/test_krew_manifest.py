"""plugins.yaml follows krew's rules and ships what the archive holds."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tests.distribution.krew_rules import problems

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def manifest():
    return yaml.safe_load((ROOT / "plugins.yaml").read_text())


def test_committed_manifest_is_valid(manifest):
    assert problems(manifest) == []


def test_manifest_covers_linux_and_darwin_every_arch(manifest):
    (platform,) = manifest["spec"]["platforms"]
    (expression,) = platform["selector"]["matchExpressions"]
    assert (expression["key"], expression["operator"], sorted(expression["values"])) == ("os", "In", ["darwin", "linux"])
    assert "arch" not in str(platform["selector"])  # one pure-Python zipapp for amd64 and arm64
    assert platform["bin"] == "kubectl-clearml"
    assert {f["from"] for f in platform["files"]} == {"kubectl-clearml", "kubectl_complete-clearml", "LICENSE"}
    assert platform["uri"].endswith(f"/{manifest['spec']['version']}/kubectl-clearml.tar.gz")


def test_manifest_version_matches_package(manifest):
    from kubectl_clearml import __version__

    assert manifest["spec"]["version"] == f"v{__version__}"


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("apiVersion",), "krew.googlecontainertools.github.com/v1alpha1", "apiVersion"),
        (("metadata", "name"), "clear ml", "invalid plugin name"),
        (("spec", "version"), "0.1.0", "semver"),
        (("spec", "platforms", 0, "sha256"), "A" * 64, "lowercase hex"),
        (("spec", "platforms", 0, "selector"), {"matchLabels": {"os": "linux", "distro": "x"}}, "only use os and arch"),
        (("spec", "platforms", 0, "files"), [{"from": "kubectl-clearml"}], "from and to"),
        (("spec", "platforms", 0, "bin"), "", "bin is required"),
    ],
)
def test_validator_rejects_what_krew_rejects(manifest, path, value, message):
    broken = copy.deepcopy(manifest)
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert any(message in p for p in problems(broken)), problems(broken)
