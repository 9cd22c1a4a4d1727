"""The supervisor of the cluster's own processes, with real processes and no cluster: start, readiness in parallel,
an early exit named with its log, a port already taken, stop."""
from __future__ import annotations

import socket
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from kubelab.cluster import components
from kubelab.cluster.components import DECLARED, MONITORING, Component, Supervisor, by_name
from kubelab.errors import ClusterUnavailable, PortInUse, UsageError

pytestmark = pytest.mark.unit


class Folder:
    """What the supervisor asks of a cluster: its name, work folder, environment and messages."""

    def __init__(self, workdir: Path):
        self.name, self.workdir = "unit", workdir

    def env(self):
        return {}

    def logs_fix(self, name):
        return f"see `kubelab cluster logs {name}`"

    def recreate_fix(self):
        return "recreate it"


def py(code: str):
    return lambda c, bins: [sys.executable, "-c", code]


def test_the_declarations_are_one_each_and_monitoring_is_marked():
    names = [d.name for d in DECLARED]
    assert len(names) == len(set(names)) and names[0] == components.KUBELET
    assert set(MONITORING) == {components.GPU_EXPORTER, components.STATE_METRICS, components.PROMETHEUS}
    assert by_name(components.REGISTRY).binary == "registry"
    with pytest.raises(UsageError, match="no component 'nope'"):
        by_name("nope")


def test_components_start_together_and_are_waited_for_in_parallel(tmp_path):
    sup = Supervisor(Folder(tmp_path))
    flags = [tmp_path / f"ready-{i}" for i in range(3)]
    comps = [Component(f"c{i}", f"component {i}",
                       py(f"import time, pathlib; time.sleep(0.6); pathlib.Path({str(f)!r}).touch(); time.sleep(60)"),
                       lambda c, f=f: f.is_file())
             for i, f in enumerate(flags)]
    start = time.monotonic()
    assert sup.start_missing(comps, {}) == ["c0", "c1", "c2"]
    sup.wait_ready(comps, timeout=20)
    took = time.monotonic() - start
    assert all(f.is_file() for f in flags)
    assert took < 0.6 * 3, f"waited one after another ({took:.2f} s)"  # three 0.6 s start-ups overlapped
    assert sup.start_missing(comps, {}) == []  # all running: nothing started twice
    pids = [sup.process(c.name).pid for c in comps]
    sup.stop([c.name for c in comps], grace=5)
    assert not any(sup.process(c.name).running for c in comps)
    assert all(p is not None for p in pids) and not list((tmp_path / "pids").glob("*.pid"))


def test_one_that_needs_the_api_server_waits_for_a_start_with_it(tmp_path):
    sup = Supervisor(Folder(tmp_path))
    early = Component("early", "the early one", py("import time; time.sleep(60)"), lambda c: True)
    late = replace(early, name="late", after_api=True)
    try:
        assert sup.start_missing([early, late], {}, api=False) == ["early"]  # the API server does not answer yet
        assert sup.start_missing([early, late], {}) == ["late"]
    finally:
        sup.stop(["early", "late"], grace=5)


def test_each_starts_once_its_own_prepare_is_done_and_a_failed_prepare_starts_none_of_its_own(tmp_path):
    import threading
    sup = Supervisor(Folder(tmp_path))
    release = threading.Event()
    seen = {}

    def slow_prepare(c):   # holds until the quick one's component runs: it must not wait for this prepare
        seen["quick running while slow prepares"] = release.wait(10)

    def quick_prepare(c):
        pass

    def watch():
        until = time.monotonic() + 10
        while time.monotonic() < until and not sup.process("quick").running:
            time.sleep(0.02)
        release.set()

    def broken_prepare(c):
        raise ClusterUnavailable("its CRDs are refused", "fix them")

    run = py("import time; time.sleep(60)")
    quick = Component("quick", "the quick one", run, lambda c: True, prepare=quick_prepare)
    slow = replace(quick, name="slow", prepare=slow_prepare)
    threading.Thread(target=watch, daemon=True).start()
    try:
        assert sup.start_missing([slow, quick], {}) == ["slow", "quick"]
        assert seen == {"quick running while slow prepares": True}
        assert sup.process("slow").running
        broken = replace(quick, name="broken", prepare=broken_prepare)
        fine = replace(quick, name="fine", prepare=lambda c: None)
        with pytest.raises(ClusterUnavailable, match="its CRDs are refused"):
            sup.start_missing([broken, fine], {})
        assert not sup.process("broken").running and sup.process("fine").running
    finally:
        sup.stop(["quick", "slow", "fine"], grace=5)


def test_a_component_that_exits_is_named_with_its_log(tmp_path):
    sup = Supervisor(Folder(tmp_path))
    bad = Component("bad", "the bad one", py("import sys; print('config missing'); sys.exit(3)"), lambda c: False)
    sup.start_missing([bad], {})
    with pytest.raises(ClusterUnavailable) as err:
        sup.wait_ready([bad], timeout=20)
    assert "the bad one (bad) of cluster 'unit' exited at start-up" in str(err.value)
    assert "kubelab cluster logs bad" in str(err.value)
    assert "config missing" in sup.log("bad")
    with pytest.raises(UsageError, match="no log for 'other'"):
        sup.log("other")


def test_one_that_does_not_answer_in_time_is_named(tmp_path):
    sup = Supervisor(Folder(tmp_path))
    slow = Component("slow", "the slow one", py("import time; time.sleep(60)"), lambda c: False)
    sup.start_missing([slow], {})
    try:
        with pytest.raises(ClusterUnavailable, match="the slow one of cluster 'unit' does not answer after 1 s"):
            sup.wait_ready([slow], timeout=1)
    finally:
        sup.stop(["slow"], grace=5)


def test_a_taken_port_or_a_missing_binary_starts_nothing(tmp_path):
    sup = Supervisor(Folder(tmp_path))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        other = Component("other", "the other one", py("import time; time.sleep(60)"), lambda c: True)
        needs_port = replace(other, name="porty", port=lambda c: taken)
        with pytest.raises(PortInUse, match=f"port {taken} of porty"):
            sup.start_missing([other, needs_port], {})
        assert not sup.process("other").running  # every check of a group comes before any start of it
    with pytest.raises(ClusterUnavailable, match="not built"):
        sup.start_missing([replace(other, binary="prometheus")], {})


def test_a_cluster_may_be_started_without_platform_parts(tmp_path, monkeypatch):
    from kubelab.cluster import LocalCluster

    monkeypatch.setenv("KUBELAB_STATE_DIR", str(tmp_path))
    parts = {d.name: d.part for d in DECLARED if d.part}
    assert set(parts.values()) == set(components.PARTS)
    assert {n for n, p in parts.items() if p == components.BATCH} == {components.KUEUE, components.KARPENTER}
    small = LocalCluster("small", without=("serving", "batch"))
    assert not any(d.part for d in small.declared())   # what `up` starts: the platform left out
    assert {d.name for d in small.declared()} == {d.name for d in DECLARED if not d.part}
    assert components.KUEUE in {d.name for d in small.declared(configured=True)}   # not started without it yet
    small._without_file.parent.mkdir(parents=True)
    small._without_file.write_text('["batch"]')   # as `up` records it
    listed = {d.name for d in LocalCluster("small").declared(configured=True)}
    assert components.KUEUE not in listed and components.ENVOY_GATEWAY in listed
    assert LocalCluster("small").without == ()   # the default: every part
    with pytest.raises(UsageError, match="no platform part 'gpu'"):
        LocalCluster("small", without=("gpu",))
