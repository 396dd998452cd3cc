"""The emulator must be fast enough that tests and benchmarks measure the client, not the server."""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import sys
import time


def test_p50_of_an_authenticated_keepalive_get_is_well_under_a_few_ms(clearml):
    conn = http.client.HTTPConnection("127.0.0.1", clearml.port, timeout=5)
    basic = base64.b64encode(f"{clearml.access_key}:{clearml.secret_key}".encode()).decode()
    conn.request("POST", "/auth.login", body=b"{}", headers={"Authorization": f"Basic {basic}"})
    token = json.loads(conn.getresponse().read())["data"]["token"]
    body = json.dumps({"queue": clearml.state.queue("default")["id"]})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    samples = []
    for _ in range(300):
        started = time.perf_counter()
        conn.request("GET", "/v2.23/queues.get_by_id", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        samples.append(time.perf_counter() - started)
        assert response.status == 200
    conn.close()
    samples.sort()
    p50_ms = samples[len(samples) // 2] * 1000
    # Typically ~0.3 ms on loopback; the bound leaves room for a loaded shared CI machine.
    assert p50_ms < 3.0, f"p50 {p50_ms:.2f} ms"


def test_module_entry_point_serves_and_writes_a_conf(tmp_path):
    conf = tmp_path / "clearml.conf"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubectl_clearml.sandbox.clearml", "--write-conf", str(conf)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        url = first.split(" on ")[1].split()[0]
        assert second.strip() == f"export CLEARML_CONFIG_FILE={conf}"
        host, port = url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("POST", "/debug.ping", body=b"{}")
        assert json.loads(conn.getresponse().read())["data"] == {"msg": "ClearML server"}
        assert url in conf.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_tasks_get_all_by_id_looks_the_ids_up_instead_of_scanning_every_stored_task(clearml):
    """The glue reads 500 tasks by id per request; 20,000 stored must not cost 20,000 x 500 comparisons
    (issue 17: 510 ms at 20k stored before the lookup). The answer keeps the scan's order (creation) and its
    filters; an excluding ``-id`` filter still scans."""
    from tests.sandbox.clearml_http import Wire

    ids = [clearml.state.create_task(f"task {n}") for n in range(20_000)]
    clearml.state.set_task(ids[-3], status="completed")
    wire = Wire(clearml)
    wanted = ids[-500:]
    body = {"id": list(reversed(wanted)), "only_fields": ["id"], "search_hidden": True}
    started = time.perf_counter()
    found = wire.call("tasks.get_all", body, timeout=30)["tasks"]
    elapsed = time.perf_counter() - started
    assert [t["id"] for t in found] == wanted  # creation order, whatever the order asked
    # ~10 ms with the lookup, seconds without it; the bound leaves room for a loaded shared machine.
    assert elapsed < 1.0, f"{elapsed * 1000:.0f} ms"
    queued = wire.call("tasks.get_all", {"id": wanted, "status": ["completed"], "only_fields": ["id"]})["tasks"]
    assert [t["id"] for t in queued] == [ids[-3]]
    rest = wire.call("tasks.get_all", {"id": [f"-{ids[0]}"], "page_size": 2, "only_fields": ["id"]})["tasks"]
    assert [t["id"] for t in rest] == ids[1:3]
