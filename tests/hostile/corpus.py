"""Hostile and broken values files: the fixed corpus of issue 16, shared by the fuzz tests and the bench.

Each case is a name and the bytes of a file. ``VALID`` holds the ones a command must accept (exit 0/1);
every other case must be refused with exit 2 (or be read as ordinary, if odd, values) and never crash.
"""

from __future__ import annotations

import codecs
import random

MiB = 1024 * 1024

BASE = """\
agentk8sglue:
  basePodTemplate:
    resources:
      limits:
        memory: 1Gi
  queues:
    default:
      templateOverrides:
        labels:
          team: red
"""


def _laughs(levels: int = 9, width: int = 10, indent: str = "") -> str:
    """Nested anchors: level n is a list of ``width`` aliases of level n-1 (width**levels nodes in all)."""
    lines = [f'{indent}l0: &l0 "lol"']
    for n in range(1, levels + 1):
        lines.append(f"{indent}l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _merge_bomb(levels: int = 20) -> str:
    """``<<`` merge keys: each level merges the previous one twice under new keys (2**levels keys)."""
    lines = ["m0: &m0 {a: 1, b: 2}"]
    for n in range(1, levels + 1):
        lines.append(f"m{n}: &m{n} {{<<: *m{n - 1}, x{n}: *m{n - 1}, y{n}: *m{n - 1}}}")
    return "\n".join(lines) + "\n"


def _queue_bomb() -> str:
    body = _laughs(indent="        ").replace("        l0:", "        l0:", 1)
    return (
        "agentk8sglue:\n  queues:\n    bomb:\n      templateOverrides:\n        annotations:\n"
        + "\n".join("  " + line for line in body.splitlines())
        + "\n"
    )


def _template_bomb() -> str:
    return "agentk8sglue:\n  basePodTemplate:\n    labels:\n" + "".join(
        "      " + line + "\n" for line in _laughs().splitlines()
    )


def _deep(levels: int = 5000) -> str:
    return "agentk8sglue: " + "[" * levels + "]" * levels + "\n"


def _deep_block(levels: int = 300) -> str:
    return "".join(" " * i + f"k{i}:\n" for i in range(levels)) + " " * levels + "v\n"


def hostile_cases() -> dict[str, bytes]:
    rng = random.Random(16)
    cases: dict[str, str | bytes] = {
        "laughs-top": _laughs(),
        "laughs-queue": _queue_bomb(),
        "laughs-template": _template_bomb(),
        "laughs-merge": _merge_bomb(),
        "laughs-wide": "a: &a [" + ",".join(["x"] * 1000) + "]\nb: [" + ",".join(["*a"] * 1000) + "]\n",
        "cycle-seq": "agentk8sglue: &a [*a]\n",
        "cycle-map": "agentk8sglue: &a {self: *a}\n",
        "cycle-merge": "agentk8sglue: &a {<<: *a, x: 1}\n",
        "cycle-queue": "agentk8sglue:\n  queues: &q\n    q1:\n      templateOverrides: *q\n",
        "deep-flow": _deep(),
        "deep-block": _deep_block(),
        "deep-dashes": "agentk8sglue: \n" + "- " * 3000 + "x\n",
        "binary": bytes(range(256)) * 64,
        "urandom": rng.randbytes(256 * 1024),
        "latin1": (BASE + "# caf\xe9 cr\xe8me\n").encode("latin-1"),
        "nul": (BASE + "x: a\x00b\n").encode(),
        "control": (BASE + "x: a\x07b\n").encode(),
        "utf16-odd": codecs.BOM_UTF16_LE + BASE.encode("utf-16-le") + b"\x00",
        "surrogate-escape": BASE + 'x: "\\ud800"\n',
        "huge-file": b"# padding\n" * (11 * MiB // 10),
        "huge-scalar": b"agentk8sglue: " + b"x" * (11 * MiB) + b"\n",
        "many-nodes": b"agentk8sglue:\n" + b"- 1\n" * 300_000,
        "not-a-mapping": "- agentk8sglue\n- queues\n",
        "scalar": "just a string\n",
        "gpu-nan": BASE + "        resources:\n          limits:\n            nvidia.com/gpu: .nan\n",
        "gpu-inf": BASE + "        resources:\n          limits:\n            nvidia.com/gpu: .inf\n",
        "gpu-word": BASE + "        resources:\n          limits:\n            nvidia.com/gpu: lots\n",
        "gpu-huge": BASE + "        resources:\n          limits:\n            nvidia.com/gpu: 1e400\n",
        "gpu-list": BASE + "        resources:\n          limits:\n            nvidia.com/gpu: [1, 2]\n",
        "maxpods-abc": BASE + "      queueSettings:\n        maxPods: abc\n",
        "maxpods-nan": BASE + "      queueSettings:\n        maxPods: .nan\n",
        "maxpods-map": BASE + "      queueSettings:\n        maxPods: {a: 1}\n",
        "reportmax-nan": BASE + "  orchestrationDashboard:\n    gpu:\n      reportMax: .inf\n",
        "queues-list": "agentk8sglue:\n  queues: [a, b]\n",
        "overrides-string": "agentk8sglue:\n  queues:\n    q: {templateOverrides: oops}\n",
        "base-list": "agentk8sglue:\n  basePodTemplate: [1, 2]\n",
        "key-types": "agentk8sglue:\n  queues:\n    ? [a, b]\n    : {}\n    1: {}\n    null: {}\n",
        "timestamps": "agentk8sglue:\n  queues:\n    2024-01-01: {templateOverrides: {labels: {d: 2024-01-01}}}\n",
        "binary-tag": "agentk8sglue:\n  basePodTemplate: !!binary aGVsbG8=\n",
        "python-tag": "agentk8sglue: !!python/object/apply:os.system ['true']\n",
        "unknown-tag": "agentk8sglue: !Ref foo\n",
        "duplicate-anchor": "a: &x 1\nb: &x 2\nc: *x\n",
        "undefined-alias": "a: *nope\n",
        "two-docs": BASE + "---\n" + BASE,
        "tabs": "agentk8sglue:\n\tqueues: {}\n",
        # inside every bound, but each of 2,000 queues gets the ~200-node base: ~400,000 template nodes
        "amplified": "agentk8sglue:\n  basePodTemplate:\n    annotations:\n"
        + "".join(f"      k{i}: v{i}\n" for i in range(200))
        + "  queues:\n"
        + "".join(f"    q{i}: {{}}\n" for i in range(2000)),
    }
    return {name: data if isinstance(data, bytes) else data.encode() for name, data in cases.items()}


def valid_cases() -> dict[str, bytes]:
    """Odd encodings a user's editor may save in: read as YAML reads them (by BOM / zero bytes)."""
    return {
        "utf8": BASE.encode(),
        "utf8-bom": codecs.BOM_UTF8 + BASE.encode(),
        "utf16-le-bom": codecs.BOM_UTF16_LE + BASE.encode("utf-16-le"),
        "utf16-be-bom": codecs.BOM_UTF16_BE + BASE.encode("utf-16-be"),
        "utf32-le-bom": codecs.BOM_UTF32_LE + BASE.encode("utf-32-le"),
        "utf32-be": BASE.encode("utf-32-be"),
        "utf16-le": BASE.encode("utf-16-le"),
        "empty": b"",
        "comment-only": b"# nothing here\n",
    }


def near_bound_cases() -> dict[str, bytes]:
    """The largest inputs the bounds accept, for the bench (too slow for CI): what a legitimate file may cost."""
    flat = "agentk8sglue:\n  basePodTemplate:\n    annotations:\n" + "".join(
        f"      k{i}: v{i}\n" for i in range(24_900)
    )
    work = (
        "agentk8sglue:\n  basePodTemplate:\n    annotations:\n"
        + "".join(f"      k{i}: v{i}\n" for i in range(220))
        + "  queues:\n"
        + "".join(f"    q{i}: {{}}\n" for i in range(600))
    )
    return {"nodes-at-cap": flat.encode(), "template-work-at-cap": work.encode()}
