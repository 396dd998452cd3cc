"""One renderer: the same view as table, wide, json, yaml and name; colour rules."""

from __future__ import annotations

import io
import json

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from kubectl_clearml.core.secrets import MASK, SECRET_KEY_PATTERN, redact_mapping, redact_text
from kubectl_clearml.output import Column, View, render, use_color

VIEW = View(
    kind="queue",
    items=[{"name": "gpu-a100", "pending": 3, "served": True}, {"name": "cpu", "pending": 0, "served": False}],
    columns=[Column("NAME", "name"), Column("PENDING", "pending"), Column("SERVED", "served", wide_only=True)],
)


def test_table_is_kubectl_style():
    assert render(VIEW, "table") == "NAME       PENDING\ngpu-a100   3\ncpu        0\n"
    assert render(VIEW, "wide").splitlines()[0] == "NAME       PENDING   SERVED"
    assert render(VIEW, "table", no_headers=True).startswith("gpu-a100")


def test_json_yaml_name_from_the_same_items():
    assert json.loads(render(VIEW, "json")) == {"kind": "QueueList", "items": VIEW.items}
    assert yaml.safe_load(render(VIEW, "yaml")) == {"kind": "QueueList", "items": VIEW.items}
    assert render(VIEW, "name") == "queue/gpu-a100\nqueue/cpu\n"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_tty_and_never_with_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_color(Tty(), False)
    assert not use_color(io.StringIO(), False)
    assert not use_color(Tty(), True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(Tty(), False)


secret_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=4, max_size=40)


@given(secret=secret_text, prefix=st.text(max_size=30), suffix=st.text(max_size=30))
def test_redact_text_removes_every_occurrence(secret, prefix, suffix):
    text = prefix + secret + suffix + secret
    assert secret not in redact_text(text, [secret])


@given(
    name=st.sampled_from(["HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "WANDB_API_KEY", "DB_PASSWORD", "--secret-key"]),
    value=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_./:+", min_size=1, max_size=40),
    quote=st.sampled_from(["", '"', "'"]),
    closed=st.booleans(),
    prefix=st.sampled_from(["", "-e ", "--env=", "args: '", "(No closing quotation): '-e "]),
    suffix=st.sampled_from(["", " -e LR=0.1", ", --gpus all", "' (task 1)"]),
)
def test_redact_text_masks_values_of_secret_looking_assignments(name, value, quote, closed, prefix, suffix):
    # Docker arguments quoted by errors and status messages: nothing registered the value as a secret.
    value = "Zq" + value  # nothing around it spells Zq
    masked = redact_text(f"{prefix}{name}={quote}{value}{quote if closed else ''}{suffix}", [])
    assert f"{name}={MASK}" in masked and "Zq" not in masked
    assert redact_text("-e LR=0.1 -e NCCL_DEBUG=INFO", []) == "-e LR=0.1 -e NCCL_DEBUG=INFO"


@given(message=st.lists(st.sampled_from([*"ab =:\"'\\,\n", "HF_TOKEN", "secret"]), max_size=20).map("".join))
@example("HF_TOKEN=")
@example('HF_TOKEN="')
@example('x HF_TOKEN="a b" y')
def test_redact_text_keeps_json_lines_json(message):
    # run-glue --log-format json redacts the dumped line: masking must not cut an escape (\" or \\) in two.
    line = json.dumps({"msg": message, "level": "info", "logger": "x"})
    assert isinstance(json.loads(redact_text(line, [])), dict)


@given(
    key=st.sampled_from(["secret_key", "sdk.aws.s3.secret", "password", "api.credentials.token"]),
    separator=st.sampled_from([" = ", "=", ": ", ":"]),
    value=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_./+", min_size=1, max_size=30),
    indent=st.sampled_from(["", "    ", "+    ", "-  ", " "]),
)
def test_redact_text_masks_secret_lines_of_config_texts(key, separator, value, indent):
    # HOCON (clearml.conf, a values file's clearmlConfig) inside a diff: each line is its own key.
    text = f"api {{\n{indent}{key}{separator}Zq{value}\n{indent}access_key: AK12\n}}\n"
    masked = redact_text(text, [])
    assert "Zq" not in masked and f"{key}{separator.rstrip()}" in masked and "access_key: AK12" in masked
    assert redact_text("error: cannot list secrets: forbidden", []) == "error: cannot list secrets: forbidden"


@given(secret=secret_text)
def test_redact_mapping_masks_secret_env_and_known_values(secret):
    pod = {
        "env": [
            {"name": "CLEARML_API_SECRET_KEY", "value": "literal"},
            {"name": "PLAIN", "value": f"prefix {secret}"},
            {"name": "FROM_REF", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ]
    }
    masked = redact_mapping(pod, [secret])
    assert masked["env"][0]["value"] == MASK
    assert all(secret not in str(entry.get("value", "")) for entry in masked["env"])
    assert masked["env"][2] == pod["env"][2]


@given(
    key=st.sampled_from(["agentk8sglueSecret", "secret_key", "password", "HF_TOKEN"]),
    value=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_./+ ", min_size=1, max_size=30),
    quote=st.sampled_from(["'", '"']),
)
def test_redact_text_masks_quoted_secret_pairs_and_keeps_their_quotes(key, value, quote):
    # A parser's error quotes a repr()'d dict (a duplicate key "with value {...}"): nothing registered it.
    text = f"with value \"{{{quote}{key}{quote}: {quote}Zq{value}{quote}, {quote}name{quote}: {quote}x{quote}}}\""
    masked = redact_text(text, [])
    assert "Zq" not in masked and f"{quote}{key}{quote}: {quote}{MASK}{quote}" in masked
    assert f"{quote}name{quote}: {quote}x{quote}" in masked
    line = json.dumps({"msg": "m", key: f"Zq{value}\"\\"})
    assert json.loads(redact_text(line, [])) == {"msg": "m", key: MASK}


@given(
    user=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-%", max_size=12),
    password=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-%!$&'()*+,;=~", min_size=1, max_size=20),
    scheme=st.sampled_from(["http", "https", "git+ssh"]),
)
def test_redact_text_masks_the_password_of_every_url(user, password, scheme):
    text = f"cannot reach {scheme}://{user}:Zq{password}@10.0.0.1:6443/api: refused"
    assert redact_text(text, []) == f"cannot reach {scheme}://{user}:{MASK}@10.0.0.1:6443/api: refused"
    assert redact_text("see git@github.com:org/repo and mailto:a@b", []) == "see git@github.com:org/repo and mailto:a@b"


@given(st.from_regex(SECRET_KEY_PATTERN))
def test_the_cheap_prefilter_never_skips_a_secret_looking_name(text):
    from kubectl_clearml.core.secrets import _may_name_a_secret

    assert SECRET_KEY_PATTERN.search(text) and _may_name_a_secret(text)
