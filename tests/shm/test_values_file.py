"""adapters/values_file.py + yaml_edit.py: round-trip edits keep comments, order, quoting and indentation."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kubectl_clearml.adapters.values_file import (
    apply_overlay_text,
    dump_plain,
    edit_in_place,
    load_values,
    parse_values,
)
from kubectl_clearml.adapters.yaml_edit import guess_indent
from kubectl_clearml.errors import UsageError

DATA = Path(__file__).parent / "data"

DSHM = {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}
DSHM_MOUNT = {"name": "dshm", "mountPath": "/dev/shm"}


def oss_overlay(values, size="16Gi"):
    base = values["agentk8sglue"]["basePodTemplate"]
    return {
        "agentk8sglue": {
            "basePodTemplate": {
                "volumes": [*base["volumes"], {**DSHM, "emptyDir": {**DSHM["emptyDir"], "sizeLimit": size}}],
                "volumeMounts": [*base["volumeMounts"], DSHM_MOUNT],
            }
        }
    }


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    import difflib

    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return [d[2:] for d in diff if d.startswith("- ")], [d[2:] for d in diff if d.startswith("+ ")]


def test_adding_to_block_lists_only_adds_lines():
    text = (DATA / "oss-values.yaml").read_text()
    after = apply_overlay_text(text, oss_overlay(parse_values(text)))
    removed, added = changed_lines(text, after)
    assert removed == []
    assert added == [
        "      - name: dshm",
        "        emptyDir:",
        "          medium: Memory",
        "          sizeLimit: 16Gi",
        "      - name: dshm",
        "        mountPath: /dev/shm",
    ]
    # the new entries land inside their lists, before the blank line and comment that follow
    assert "        mountPath: /dev/shm\n\n    # every task pod asks for two A100s\n" in after
    assert '  agentk8sglueKey: "${ACCESS_KEY}"     # from the vault, see README\n' in after
    assert parse_values(after)["agentk8sglue"]["basePodTemplate"]["volumes"][-1] == DSHM


def test_resizing_changes_one_line():
    text = (DATA / "oss-values.yaml").read_text()
    once = apply_overlay_text(text, oss_overlay(parse_values(text)))
    twice = apply_overlay_text(once, oss_overlay(parse_values(text), "32Gi"))
    removed, added = changed_lines(once, twice)
    assert (removed, added) == (["          sizeLimit: 16Gi"], ["          sizeLimit: 32Gi"])


def test_same_overlay_twice_is_byte_identical():
    text = (DATA / "oss-values.yaml").read_text()
    overlay = oss_overlay(parse_values(text))
    once = apply_overlay_text(text, overlay)
    assert apply_overlay_text(once, overlay) == once


def test_removing_an_entry_keeps_neighbours_and_comments():
    text = (DATA / "enterprise-values.yaml").read_text()
    overlay = {"agentk8sglue": {"queues": {"legacy": {"templateOverrides": {"volumes": [DSHM], "volumeMounts": [DSHM_MOUNT]}}}}}
    after = apply_overlay_text(text, overlay)
    legacy = parse_values(after)["agentk8sglue"]["queues"]["legacy"]["templateOverrides"]
    assert legacy["volumes"] == [DSHM] and legacy["volumeMounts"] == [DSHM_MOUNT]
    assert "    # two GPUs, 64Gi of RAM\n" in after and "    # a queue with its own volumes\n" in after
    removed, _ = changed_lines(text, after)
    assert "              path: /dev/shm" in removed


def test_new_keys_in_an_empty_flow_map_and_an_absent_map():
    text = (DATA / "enterprise-values.yaml").read_text()
    overlay = {
        "agentk8sglue": {
            "queues": {
                "red": {"templateOverrides": {"extraVolumes": [DSHM], "extraVolumeMounts": [DSHM_MOUNT]}},
                "newq": {"templateOverrides": {"extraVolumes": [DSHM]}},
            }
        }
    }
    after = apply_overlay_text(text, overlay)
    queues = parse_values(after)["agentk8sglue"]["queues"]
    assert queues["red"]["templateOverrides"] == {"extraVolumes": [DSHM], "extraVolumeMounts": [DSHM_MOUNT]}
    assert queues["newq"] == {"templateOverrides": {"extraVolumes": [DSHM]}}
    assert list(queues) == ["red", "2xGPU", "4xGPU", "legacy", "newq"]
    assert "# clearml-enterprise-agent 6.x values" in after


@pytest.mark.parametrize(
    "text,expected",
    [
        ("a:\n  b:\n    - x\n", (2, 2)),
        ("a:\n    b:\n    - x\n", (4, 0)),
        ("a:\n  b:\n  - x\n", (2, 0)),
        ("a: 1\n", (2, 0)),
    ],
)
def test_guess_indent(text, expected):
    assert guess_indent(text) == expected


def test_four_space_files_stay_four_space():
    text = "agentk8sglue:\n    basePodTemplate:\n        volumes: []\n"
    after = apply_overlay_text(text, {"agentk8sglue": {"basePodTemplate": {"volumes": [DSHM]}}})
    assert after == (
        "agentk8sglue:\n    basePodTemplate:\n        volumes:\n        - name: dshm\n"
        "          emptyDir:\n              medium: Memory\n              sizeLimit: 16Gi\n"
    )


def test_edit_in_place_keeps_a_backup_and_skips_no_ops(tmp_path):
    path = tmp_path / "values.yaml"
    shutil.copy(DATA / "oss-values.yaml", path)
    original = path.read_text()
    overlay = oss_overlay(load_values(str(path)))
    edit = edit_in_place(str(path), overlay)
    assert edit.changed and edit.backup == f"{path}.bak"
    assert Path(edit.backup).read_text() == original
    assert "+      - name: dshm" in edit.diff()
    os.remove(edit.backup)
    again = edit_in_place(str(path), overlay)
    assert not again.changed and again.backup is None
    assert not Path(f"{path}.bak").exists()


def test_dry_run_writes_nothing(tmp_path):
    path = tmp_path / "values.yaml"
    shutil.copy(DATA / "oss-values.yaml", path)
    edit = edit_in_place(str(path), oss_overlay(load_values(str(path))), write=False)
    assert edit.changed and path.read_text() == edit.before and not Path(f"{path}.bak").exists()


def test_bad_files(tmp_path):
    with pytest.raises(UsageError, match="values file not found"):
        load_values(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("a:\n  b: [1, 2\n")
    with pytest.raises(UsageError) as err:
        load_values(str(bad))
    assert "bad.yaml:" in err.value.one_line()
    bad.write_text("- a\n- b\n")
    with pytest.raises(UsageError, match="mapping"):
        load_values(str(bad))
    assert parse_values("") == {}


def test_overlay_dump_is_block_yaml_in_order():
    text = dump_plain({"agentk8sglue": {"basePodTemplate": {"volumes": [DSHM], "volumeMounts": [DSHM_MOUNT]}}})
    assert text == (
        "agentk8sglue:\n  basePodTemplate:\n    volumes:\n      - name: dshm\n        emptyDir:\n"
        "          medium: Memory\n          sizeLimit: 16Gi\n    volumeMounts:\n      - name: dshm\n"
        "        mountPath: /dev/shm\n"
    )


# ---- properties: the in-place edit means exactly Helm's merge of the overlay ----------------------------

import json  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kubectl_clearml.core.values import merge_user_values  # noqa: E402

keys = st.sampled_from(["a", "b", "volumes", "name", "x.y", "queue"])
scalars = st.one_of(st.integers(-5, 5), st.sampled_from(["s", "16Gi", "yes", "", "a b"]), st.booleans())
named = st.builds(lambda n, v: {"name": n, "v": v}, st.sampled_from(["dshm", "data", "x"]), scalars)
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(st.one_of(named, scalars), max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=12,
)
documents = st.dictionaries(keys, trees, max_size=4)


@settings(max_examples=40, deadline=None)
@given(documents, documents)
def test_property_in_place_edit_is_helm_merge_and_idempotent(original, overlay):
    text = "# header comment\n" + dump_plain(original) if original else "# header comment\n"
    after = apply_overlay_text(text, overlay)
    # compared as JSON: Python's == would let true pass for 1
    assert json.dumps(parse_values(after)) == json.dumps(merge_user_values(original, overlay))
    assert after.startswith("# header comment\n")
    assert apply_overlay_text(after, overlay) == after


def test_scalars_of_another_type_are_replaced():
    after = apply_overlay_text("a: 1\nb: 'x'\nc: true\n", {"a": True, "b": "x", "c": 1})
    parsed = parse_values(after)
    assert parsed == {"a": True, "b": "x", "c": 1}
    assert parsed["a"] is True and type(parsed["c"]) is int  # 1 == True in Python: check the types
    assert "b: 'x'" in after  # an equal string keeps its quotes


def test_dropping_the_last_entry_keeps_the_comment_after_the_list():
    text = (
        "base:\n"
        "  volumes:\n"
        "    - name: a\n"
        "      emptyDir: {}\n"
        "    - name: h   # host shm\n"
        "      hostPath:\n"
        "        path: /dev/shm\n"
        "\n"
        "  # resources below\n"
        "  resources: {}\n"
    )
    after = apply_overlay_text(text, {"base": {"volumes": [{"name": "a", "emptyDir": {}}, DSHM]}})
    assert after == (
        "base:\n"
        "  volumes:\n"
        "    - name: a\n"
        "      emptyDir: {}\n"
        "    - name: dshm\n"
        "      emptyDir:\n"
        "        medium: Memory\n"
        "        sizeLimit: 16Gi\n"
        "\n"
        "  # resources below\n"
        "  resources: {}\n"
    )


D1 = {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}
M1 = {"name": "dshm", "mountPath": "/dev/shm"}


def test_end_of_line_comment_stays_and_following_comment_moves_after_the_appended_entry():
    text = (
        "base:\n  volumes:\n  - name: a\n    persistentVolumeClaim:\n      claimName: x  # eol\n"
        "  # comment before mounts\n  volumeMounts:\n  - name: a\n    mountPath: /a\nother: 1\n"
    )
    overlay = {"base": {"volumes": [{"name": "a", "persistentVolumeClaim": {"claimName": "x"}}, D1]}}
    assert apply_overlay_text(text, overlay) == (
        "base:\n  volumes:\n  - name: a\n    persistentVolumeClaim:\n      claimName: x  # eol\n"
        "  - name: dshm\n    emptyDir:\n      medium: Memory\n      sizeLimit: 1Gi\n"
        "  # comment before mounts\n  volumeMounts:\n  - name: a\n    mountPath: /a\nother: 1\n"
    )


def test_empty_flow_lists_grow_into_block_lists_before_the_next_comment():
    text = "base:\n  volumes: [] # none yet\n\n  # mounts\n  volumeMounts: []\n  x: 1\n"
    after = apply_overlay_text(text, {"base": {"volumes": [D1], "volumeMounts": [M1]}})
    assert after == (
        "base:\n  volumes:    # none yet\n  - name: dshm\n    emptyDir:\n      medium: Memory\n      sizeLimit: 1Gi\n"
        "\n  # mounts\n  volumeMounts:\n  - name: dshm\n    mountPath: /dev/shm\n  x: 1\n"
    )


@settings(max_examples=40, deadline=None)
@given(documents, documents, st.data())
def test_property_comments_never_change_the_meaning(original, overlay, data):
    lines = dump_plain(original).splitlines() if original else []
    commented = []
    for line in lines:
        if data.draw(st.booleans(), label="comment line before"):
            commented.append("# note")
        eol = data.draw(st.booleans(), label="end-of-line comment") and not line.rstrip().endswith(("|", ">"))
        commented.append(line + ("  # eol" if eol else ""))
    text = "# header\n" + "\n".join(commented) + ("\n" if commented else "")
    assert parse_values(text) == parse_values(dump_plain(original)) if original else True
    after = apply_overlay_text(text, overlay)
    assert json.dumps(parse_values(after)) == json.dumps(merge_user_values(original, overlay))
    assert after.startswith("# header\n")
    assert apply_overlay_text(after, overlay) == after
