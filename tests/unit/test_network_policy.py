"""NetworkPolicy semantics as a CNI decides them, on plain objects (no cluster)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubelab.observe.network import network_allows

SOLUTION = Path(__file__).parents[2] / "solutions" / "lab1-cluster-manifests" / "manifests" / "network.yaml"
CLIENT, SERVER, BATCH = {"role": "model-client"}, {"app": "model-server"}, {"app": "batch"}
PORTS = {"http": 8080}


def policy(name, selector, types, ingress=None, egress=None):
    spec = {"podSelector": selector, "policyTypes": types}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name}, "spec": spec}


def test_without_policies_everything_is_open():
    assert network_allows([], CLIENT, SERVER, 8080)


def test_a_default_deny_of_one_direction_closes_only_that_one():
    deny_in = [policy("deny", {}, ["Ingress"])]
    assert not network_allows(deny_in, CLIENT, SERVER, 8080)
    deny_out = [policy("deny", {}, ["Egress"])]
    assert not network_allows(deny_out, CLIENT, SERVER, 8080)
    only_batch = [policy("deny", {"matchLabels": BATCH}, ["Ingress"])]
    assert network_allows(only_batch, CLIENT, SERVER, 8080)  # the server is selected by no policy


@pytest.mark.parametrize("source,target,port,allowed", [
    (CLIENT, SERVER, 8080, True),
    (CLIENT, SERVER, 9090, False),     # another port
    (BATCH, SERVER, 8080, False),      # another pod
    (SERVER, CLIENT, 8080, False),     # the other way round
    (CLIENT, BATCH, 8080, False),      # the client's egress goes to the server only
])
def test_the_lab1_solution_opens_exactly_the_client_to_server_path(source, target, port, allowed):
    policies = list(yaml.safe_load_all(SOLUTION.read_text()))
    assert network_allows(policies, source, target, port, target_ports=PORTS) is allowed


def test_a_connection_needs_the_ingress_and_the_egress_side():
    ingress_only = [policy("deny", {}, ["Ingress", "Egress"]),
                    policy("in", {"matchLabels": SERVER}, ["Ingress"], ingress=[{"from": [{"podSelector": {}}]}])]
    assert not network_allows(ingress_only, CLIENT, SERVER, 8080)
    both = ingress_only + [policy("out", {"matchLabels": CLIENT}, ["Egress"], egress=[{"to": [{"podSelector": {}}]}])]
    assert network_allows(both, CLIENT, SERVER, 8080)


def test_ports_by_name_range_protocol_and_peers_by_expression_or_ip_block():
    rule = lambda ports, peers: [policy("deny", {}, ["Ingress"]),
                                 policy("p", {}, ["Ingress"], ingress=[{"ports": ports, "from": peers}])]
    everyone = [{"podSelector": {}}]
    assert network_allows(rule([{"port": "http"}], everyone), CLIENT, SERVER, 8080, target_ports=PORTS)
    assert not network_allows(rule([{"port": "http"}], everyone), CLIENT, SERVER, 8080)  # name unknown
    assert network_allows(rule([{"port": 8000, "endPort": 8100}], everyone), CLIENT, SERVER, 8080)
    assert not network_allows(rule([{"port": 8080, "protocol": "UDP"}], everyone), CLIENT, SERVER, 8080)
    expr = [{"podSelector": {"matchExpressions": [{"key": "role", "operator": "In", "values": ["model-client"]}]}}]
    assert network_allows(rule([], expr), CLIENT, SERVER, 8080)
    assert not network_allows(rule([], expr), BATCH, SERVER, 8080)
    assert not network_allows(rule([], [{"ipBlock": {"cidr": "10.0.0.0/8"}}]), CLIENT, SERVER, 8080)
    # policyTypes left out: Ingress, plus Egress when the policy has egress rules
    implicit = [{"spec": {"podSelector": {}, "egress": []}}]
    assert not network_allows(implicit, CLIENT, SERVER, 8080)
