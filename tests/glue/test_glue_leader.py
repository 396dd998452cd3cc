"""Two replicas with --leader-elect: only the Lease holder dispatches; a clean exit hands over at once."""

from __future__ import annotations

import time

from kubectl_clearml.glue.clock import micro_time
from tests.glue.glue_harness import wait_for


def _leading(engine):
    return engine.metrics.get("clearml_glue_leader") == 1


def test_only_one_of_two_instances_dispatches_and_the_other_takes_over(h):
    h.queue("cpu")
    first_batch = [h.task(f"job {i}", "cpu") for i in range(4)]
    a = h.start(h.engine(["cpu"], leader_elect=True, lease_duration=1.0, identity="replica-a"))
    b = h.start(h.engine(["cpu"], leader_elect=True, lease_duration=1.0, identity="replica-b"))
    wait_for(lambda: all(h.pod_of(t) for t in first_batch), what="the first batch launched")
    wait_for(lambda: a.summary.rounds + b.summary.rounds > 10)
    assert _leading(a) != _leading(b), "exactly one leader"
    leader, standby = (a, b) if _leading(a) else (b, a)
    assert standby.summary.launched == 0 and not standby.started
    assert leader.summary.launched == 4
    lease = h.kube_emu.store.get("leases", "clearml-glue-" + leader.label, h.namespace)
    assert lease["spec"]["holderIdentity"] == leader.leader.identity

    h.stop(leader)  # a clean exit releases the lease
    second_batch = [h.task(f"later {i}", "cpu") for i in range(2)]
    wait_for(lambda: all(h.pod_of(t) for t in second_batch), what="the standby took over")
    wait_for(lambda: standby.summary.launched == 2, what="counted by the new leader")
    assert len(h.pods()) == 6


def _lease(h, name, holder, renewed):
    h.kube_emu.store.add(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": h.namespace},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 2, "renewTime": renewed, "leaseTransitions": 4},
        }
    )


def test_a_live_holder_keeps_the_lease_and_an_expired_one_loses_it(h):
    h.queue("cpu")
    tid = h.task("waits for the leader", "cpu")
    engine = h.engine(["cpu"], leader_elect=True, lease_duration=2.0, identity="replica-b")
    name = "clearml-glue-" + engine.label
    # Another replica renewed just now (it then died by SIGKILL: it never releases).
    _lease(h, name, "replica-a", micro_time(time.time()))
    h.start(engine)
    wait_for(lambda: engine.summary.rounds == 0 and engine.metrics.get("clearml_glue_leader") == 0)
    time.sleep(0.5)
    assert h.pod_of(tid) is None and not engine.started
    wait_for(lambda: h.pod_of(tid), timeout=10, what="the lease taken over after it expired")
    lease = h.kube_emu.store.get("leases", name, h.namespace)
    assert lease["spec"]["holderIdentity"] == "replica-b"
    assert lease["spec"]["leaseTransitions"] == 5
