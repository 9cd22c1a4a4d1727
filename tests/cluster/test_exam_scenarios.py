"""Every exam scenario against the real control plane: after inject its repair check fails; after the
reference repair it passes; each symptom-hiding repair it lists (delete the workload or its pods, scale to
zero, remove the guard rail, a second object beside the broken one ...) fails; each other real repair it
lists passes.

The cases run concurrently (each in a fresh namespace) in one module fixture, since most of a case is
waiting for the cluster to settle; the parametrized tests then report each outcome on its own."""
from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from kubelab.errors import CheckFailed
from kubelab.exam import conflict, registry
from tests.helpers import fresh_namespace

# the first test's setup runs every case of the catalogue (the `outcomes` fixture): minutes, more than the
# suite's per-test limit, and more as scenarios and forms are added
pytestmark = pytest.mark.timeout(900)

SCENARIOS = registry.all()
WRONG = [(s.name, w) for s in SCENARIOS for w in s.wrong]
ALTERNATIVES = [(s.name, a) for s in SCENARIOS for a in s.alternatives]
WORKERS = 16
SETTLE_S = 3.0   # the broken state shows (pods created, verdicts marked) before a wrong repair is made
GPU_CASES = {"a100": threading.BoundedSemaphore(3), "h100": threading.BoundedSemaphore(4)}  # each pool: < 16 GPUs held


def _holds(scenario, api, ns) -> tuple[bool, str]:
    try:
        return True, scenario.check(api, ns).message
    except CheckFailed as failed:
        return False, str(failed)


def _case(api, scenario, wrong: str | None) -> dict:
    with GPU_CASES.get(scenario.gpu_pool) or contextlib.nullcontext():
        return _run_case(api, scenario, wrong)


def _run_case(api, scenario, wrong: str | None) -> dict:
    from kubernetes import client

    ns = fresh_namespace(api)
    start = time.monotonic()
    try:
        scenario.inject(api, ns)
        if wrong is None:
            injected = _holds(scenario, api, ns)
            scenario.repair(api, ns)
            return {"injected": injected, "repaired": _holds(scenario, api, ns), "s": time.monotonic() - start}
        time.sleep(SETTLE_S)
        if wrong.startswith("alt:"):
            scenario.repair_otherwise(api, ns, wrong[4:])
            return {"repaired": _holds(scenario, api, ns), "s": time.monotonic() - start}
        scenario.tamper(api, ns, wrong)
        return {"tampered": _holds(scenario, api, ns), "s": time.monotonic() - start}
    except Exception as err:  # reported by the test of this case, not lost in the pool
        return {"error": f"{type(err).__name__}: {err}"}
    finally:
        client.CoreV1Api(api).delete_namespace(ns)
        scenario.cleanup(api, ns)


def groups() -> list[list]:
    """The catalogue in as few groups as the draw allows in one namespace: no two in a group make the same kind
    of namespace-wide object (the draw never puts such two together); today one group."""
    out: list[list] = []
    for s in SCENARIOS:
        home = next((g for g in out if not any(conflict(s, o) for o in g)), None)
        if home is None:
            out.append(home := [])
        home.append(s)
    return out


def _together(api) -> dict:
    """Each group of the catalogue that a draw may put together injected into ONE namespace (as a draw is), then
    every reference repair: no scenario's objects or guard rails (a quota, a LimitRange, a default deny) may break
    another's."""
    out = {}
    for group in groups():
        out.update(_together_in_one(api, group))
    return out


def _together_in_one(api, scenarios) -> dict:
    from kubernetes import client

    ns = fresh_namespace(api)
    try:
        for s in scenarios:
            s.inject(api, ns)
        for s in scenarios:
            s.repair(api, ns)
        with ThreadPoolExecutor(len(scenarios)) as pool:
            return dict(zip([s.name for s in scenarios], pool.map(lambda s: _holds(s, api, ns), scenarios)))
    except Exception as err:  # reported by its test
        return {"(inject or repair)": (False, f"{type(err).__name__}: {err}")}
    finally:
        client.CoreV1Api(api).delete_namespace(ns)
        for s in scenarios:
            s.cleanup(api, ns)


@pytest.fixture(scope="module")
def outcomes(api):
    cases = [(s, None) for s in SCENARIOS] + [(registry.get(n), w) for n, w in WRONG] + [
        (registry.get(n), f"alt:{a}") for n, a in ALTERNATIVES] + [(None, "together")]
    start = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda c: _together(api) if c[0] is None else _case(api, *c), cases))
    print(f"{len(cases)} exam cases in {time.monotonic() - start:.0f} s")
    return {(s.name if s else None, w): r for (s, w), r in zip(cases, results)}


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_inject_breaks_and_the_reference_repair_heals(outcomes, name):
    out = outcomes[(name, None)]
    assert "error" not in out, out["error"]
    held, message = out["injected"]
    assert not held, f"{name}: the check passed right after inject: {message}"
    held, message = out["repaired"]
    assert held, f"{name}: the reference repair does not pass: {message}"


@pytest.mark.parametrize("name,wrong", WRONG, ids=[f"{n}-{w}" for n, w in WRONG])
def test_a_symptom_hiding_repair_fails(outcomes, name, wrong):
    out = outcomes[(name, wrong)]
    assert "error" not in out, out["error"]
    held, message = out["tampered"]
    assert not held, f"{name}: the wrong repair {wrong!r} passed: {message}"


@pytest.mark.parametrize("name,alternative", ALTERNATIVES, ids=[f"{n}-{a}" for n, a in ALTERNATIVES])
def test_another_real_repair_passes(outcomes, name, alternative):
    out = outcomes[(name, f"alt:{alternative}")]
    assert "error" not in out, out["error"]
    held, message = out["repaired"]
    assert held, f"{name}: the real repair {alternative!r} does not pass: {message}"


def test_the_whole_catalogue_repaired_in_one_namespace_passes(outcomes):
    assert len(groups()) == 1   # no two scenarios of the catalogue make the same namespace-wide kind today
    failed = {name: msg for name, (held, msg) in outcomes[(None, "together")].items() if not held}
    assert failed == {}


def test_every_scenario_lists_the_generic_wrong_repairs_that_apply():
    for s in SCENARIOS:
        assert {"delete-workload", "scale-to-zero"} <= set(s.wrong), s.name


def test_the_cli_injects_and_checks_a_scenario(api, local_cluster, namespace):
    from click.testing import CliRunner

    from kubelab.cli import main

    runner, where = CliRunner(), ["-n", namespace, "--cluster", local_cluster.name]
    injected = runner.invoke(main, ["exam", "inject", "service-selector", *where])
    assert injected.exit_code == 0 and "ticket:" in injected.output, injected.output
    broken = runner.invoke(main, ["exam", "check", "service-selector", *where])
    assert broken.exit_code == 1 and broken.output.startswith("FAIL"), broken.output
    registry.get("service-selector").repair(api, namespace)
    repaired = runner.invoke(main, ["exam", "check", "service-selector", *where])
    assert repaired.exit_code == 0 and repaired.output.startswith("PASS"), repaired.output
