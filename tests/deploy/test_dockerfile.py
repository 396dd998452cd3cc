"""deploy/Dockerfile is not built in CI (no registry here): check that it installs this package as it is."""

from __future__ import annotations

import re
from importlib.metadata import distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from kubectl_clearml.core.glue_install import RUN_AS

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()
PACKAGE = distribution("kubectl-clearml")  # the installed package's own metadata, as pip sees it


def stages() -> list[str]:
    return re.split(r"^FROM ", DOCKERFILE, flags=re.M)[1:]


def test_the_entrypoint_is_one_of_the_package_console_scripts() -> None:
    entrypoint = re.search(r'^ENTRYPOINT \["([^"]+)"\]', DOCKERFILE, re.M)
    scripts = {e.name for e in PACKAGE.entry_points if e.group == "console_scripts"}
    assert entrypoint and entrypoint.group(1) in scripts


def test_the_base_python_satisfies_requires_python() -> None:
    version = re.search(r"^ARG PYTHON_VERSION=(\S+)", DOCKERFILE, re.M)
    assert version
    assert Version(version.group(1)) in SpecifierSet(PACKAGE.metadata["Requires-Python"])
    assert all(stage.startswith("python:${PYTHON_VERSION}-slim") for stage in stages())


def test_the_wheel_is_built_from_this_tree_and_only_wheels_reach_the_image() -> None:
    build, final = stages()
    assert "COPY pyproject.toml" in build and "COPY kubectl_clearml ./kubectl_clearml" in build
    assert re.search(r"pip wheel --no-deps --wheel-dir /wheels \.", build)
    assert "--no-index --find-links /wheels kubectl-clearml" in final  # nothing from the network at this stage
    assert "apt-get" not in final and "gcc" not in final and "rm -rf /wheels" in final


def test_it_runs_as_the_non_root_user_the_deployment_expects() -> None:
    user = re.search(r"^USER (\d+):(\d+)", DOCKERFILE, re.M)
    assert user and int(user.group(1)) == RUN_AS != 0
    assert f"--uid {RUN_AS}" in DOCKERFILE


def test_every_runtime_dependency_is_pinned_within_its_range() -> None:
    pins = {}
    for line in (ROOT / "deploy" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = Version(version)
    for text in PACKAGE.requires or []:
        if "extra ==" in text:
            continue
        requirement = Requirement(text)
        key = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert key in pins, f"{requirement.name} is not pinned in deploy/constraints.txt"
        assert pins[key] in requirement.specifier, f"{requirement.name}=={pins[key]} is outside {requirement.specifier}"
