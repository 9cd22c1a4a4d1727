"""Gateway API reading without a cluster: path matching and route precedence as the Gateway API specifies them,
weights read as shares, the status Envoy Gateway writes per parent (only for the route's current generation), and
the frames of kl.observe.routes."""
from __future__ import annotations

import pytest

from kubelab.cluster.gateway import CONTROLLER
from kubelab.grading.routes import attached, parent_status, path_matches, winner
from kubelab.observe.routes import backend_shares, gateways_frame, route_backends_frame, route_status_frame


def route(name, rules, created="2026-12-06T10:00:00Z", parents=({"name": "models"},), status=None, generation=1):
    return {"kind": "HTTPRoute", "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created,
                                              "generation": generation},
            "spec": {"parentRefs": list(parents), "rules": rules}, **({"status": status} if status else {})}


def rule(path=None, backends=(("v1", None),), kind="PathPrefix", headers=()):
    m = {**({"path": {"type": kind, "value": path}} if path else {}),
         **({"headers": [{"name": k, "value": v} for k, v in headers]} if headers else {})}
    return {**({"matches": [m]} if m else {}),
            "backendRefs": [{"name": n, "port": 80, **({"weight": w} if w is not None else {})} for n, w in backends]}


def status(accepted="True", reason="Accepted", resolved="True", generation=1, section=None):
    ref = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "models",
           **({"sectionName": section} if section else {})}
    return {"parents": [{"controllerName": CONTROLLER, "parentRef": ref, "conditions": [
        {"type": "Accepted", "status": accepted, "reason": reason, "message": "m", "observedGeneration": generation},
        {"type": "ResolvedRefs", "status": resolved, "reason": "ResolvedRefs" if resolved == "True" else "PortNotFound",
         "message": "TCP Port 8080 not found", "observedGeneration": generation}]}]}


def test_path_prefix_matches_whole_elements_and_ignores_a_trailing_slash():
    assert path_matches({"value": "/v1/rank"}, "/v1/rank")
    assert path_matches({"value": "/v1/rank/"}, "/v1/rank/top")
    assert not path_matches({"value": "/v1/rank"}, "/v1/ranker")
    assert path_matches({}, "/anything")                       # the default match: PathPrefix /
    assert path_matches({"type": "Exact", "value": "/v1"}, "/v1") and not path_matches({"type": "Exact", "value": "/v1"}, "/v1/x")
    assert path_matches({"type": "RegularExpression", "value": "/v[0-9]+/rank"}, "/v2/rank")


def test_the_longest_prefix_wins_then_exact_then_headers_then_the_oldest_route():
    catch_all = route("all", [rule("/", (("web", None),))], created="2026-12-06T09:00:00Z")
    rank = route("rank", [rule("/v1/rank", (("ranker", None),))])
    assert winner([catch_all, rank], "/v1/rank/top")[0]["metadata"]["name"] == "rank"
    assert winner([catch_all, rank], "/healthz")[0]["metadata"]["name"] == "all"
    exact = route("exact", [rule("/v1/rank", kind="Exact")], created="2026-12-06T11:00:00Z")
    assert winner([rank, exact], "/v1/rank")[0]["metadata"]["name"] == "exact"
    big = route("big", [rule("/v1/rank", headers=[("x-model", "big")])], created="2026-12-06T11:00:00Z")
    assert winner([rank, big], "/v1/rank", {"X-Model": "big"})[0]["metadata"]["name"] == "big"
    assert winner([rank, big], "/v1/rank")[0]["metadata"]["name"] == "rank"      # its header is absent
    newer = route("a-newer", [rule("/v1/rank")], created="2026-12-06T12:00:00Z")
    assert winner([newer, rank], "/v1/rank")[0]["metadata"]["name"] == "rank"    # the older route, not the name
    assert winner([rank], "/other") is None


def test_weights_are_shares_of_their_sum_and_a_missing_weight_is_one():
    assert backend_shares(rule(backends=(("v1", 90), ("v2", 10)))["backendRefs"]) == {"v1": 0.9, "v2": 0.1}
    assert backend_shares(rule(backends=(("v1", 9), ("v2", None)))["backendRefs"]) == {"v1": 0.9, "v2": 0.1}
    assert backend_shares(rule(backends=(("v1", 0), ("v2", 0)))["backendRefs"]) == {"v1": 0.0, "v2": 0.0}
    assert backend_shares([{"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "llama"}]) == \
        {"InferencePool/llama": 1.0}


def test_parent_status_is_the_controllers_for_this_generation_only():
    r = route("r", [rule("/")], status=status(), generation=1)
    assert parent_status(r, "models")["controllerName"] == CONTROLLER
    assert parent_status(r, "other") is None
    stale = route("r", [rule("/")], status=status(generation=1), generation=2)
    assert parent_status(stale, "models") is None                  # written for the spec before the last edit
    assert [x["metadata"]["name"] for x in attached([r, route("o", [], parents=({"name": "other"},))], "models", "ns")] == ["r"]


def test_frames_show_conditions_with_reasons_and_shares():
    refused = route("astray", [rule("/x")], status=status("False", "NoMatchingParent", section="https"))
    ok = route("canary", [rule("/v1/rank", (("v1", 90), ("v2", 10)))], status=status())
    df = route_status_frame([ok, refused, route("new", [])])
    assert df.set_index("route").loc["astray", "Accepted"] == "False (NoMatchingParent)"
    assert df.set_index("route").loc["astray", "parent"] == "models/https"
    assert df.set_index("route").loc["canary", "ResolvedRefs"] == "True (ResolvedRefs)"
    assert df.set_index("route").loc["new", "why"] == "no controller has answered"
    shares = route_backends_frame([ok])
    assert list(shares["share"]) == [0.9, 0.1] and list(shares["matches"]) == ["PathPrefix /v1/rank"] * 2
    gw = gateways_frame([{"metadata": {"name": "models"}, "spec": {"gatewayClassName": "eg", "listeners": [
        {"name": "http", "protocol": "HTTP", "port": 80}]}, "status": {"addresses": [{"value": "10.0.0.5"}],
        "conditions": [{"type": "Programmed", "status": "True", "reason": "Programmed", "message": "1/1"}]}}])
    assert gw.iloc[0][["listeners", "Programmed", "address", "Accepted"]].tolist() == \
        ["http:HTTP/80", "True (Programmed)", "10.0.0.5", "-"]


def test_an_images_share_is_its_backends_weight_spread_over_their_ready_endpoints():
    from kubelab.grading.routes import image_shares
    stable, canary = {"triton:25.01"}, {"triton:25.02"}
    shares, dead = image_shares({"stable": .9, "canary": .1}, {"stable": [stable] * 5, "canary": [canary]})
    assert shares == pytest.approx({"triton:25.01": .9, "triton:25.02": .1}) and dead == []
    # a canary Service that selects both tracks: its 10 % is mixed by replicas (1 canary pod of 6)
    shares, _ = image_shares({"stable": .9, "canary": .1}, {"stable": [stable] * 5, "canary": [canary] + [stable] * 5})
    assert shares["triton:25.02"] == pytest.approx(.1 / 6)
    # one Service over both tracks, no weights: the replicas decide (1 of 4)
    shares, _ = image_shares({"all": 1.0}, {"all": [stable] * 3 + [canary]})
    assert shares["triton:25.02"] == pytest.approx(.25)
    # a weighted backend with no ready endpoint: its share is lost (HTTP 503), and said
    shares, dead = image_shares({"stable": .9, "canary": .1}, {"stable": [stable] * 3, "canary": []})
    assert dead == ["canary"] and "triton:25.02" not in shares
    # a weight of 0 with no endpoint is not a dead backend
    assert image_shares({"stable": 1.0, "canary": 0.0}, {"stable": [stable]})[1] == []
