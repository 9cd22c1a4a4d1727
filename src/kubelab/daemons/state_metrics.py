"""kube-state-metrics' names for the embedded cluster, served as the `kubelab-state-metrics` process (console
script). The families are computed by `kubelab.observe.state_metrics` (pure); this module serves them.

As kube-state-metrics does, it keeps pods, nodes and EndpointSlices in caches fed by watches (`kubelab._k8s.informer`), renders each
object's series to Prometheus text once, when the object changes, and a scrape joins the stored text: a scrape
costs no API call and no per-series work, and the answer is the same text prometheus_client would write for the
same families (text format 0.0.4)."""
from __future__ import annotations

import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .._k8s.informer import Informer
from .._k8s.names import SIMULATED_LABEL
from ..observe.state_metrics import (HELP, endpointslice_families, node_families, pod_families, slim_endpointslice,
                                     slim_node, slim_pod)
from . import exporter_arguments, sleep_forever

__all__ = ["StateMetrics", "header", "main", "render"]

log = logging.getLogger("kubelab.state_metrics")
POD_FAMILIES = tuple(pod_families([], set()))
NODE_FAMILIES = tuple(node_families([]))
SLICE_FAMILIES = tuple(endpointslice_families([], set()))
FAMILIES = (*POD_FAMILIES, *NODE_FAMILIES, *SLICE_FAMILIES)


def _escape(value) -> str:
    return str(value).replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def render(families: dict[str, list[tuple[dict, float]]]) -> dict[str, bytes]:
    """{metric: [(labels, value)]} as {metric: its sample lines}, as prometheus_client's text format writes them (pure).
    Every point of a family here has the same label names, so sorting each point's own names gives the family's."""
    from prometheus_client.utils import floatToGoString

    out = {}
    for name, points in families.items():
        lines = []
        for labels, value in points:
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
            lines.append(f"{name}{{{text}}} {floatToGoString(value)}\n" if text else f"{name} {floatToGoString(value)}\n")
        if lines:
            out[name] = "".join(lines).encode()
    return out


def header(name: str) -> bytes:
    """The HELP and TYPE lines of a family (a _total name is a counter)."""
    kind = "counter" if name.endswith("_total") else "gauge"
    return f"# HELP {name} {HELP[name]}\n# TYPE {name} {kind}\n".encode()


class StateMetrics:
    """Pods, nodes and EndpointSlices in caches fed by watches, each object's series rendered when it changes; `text()`
    joins them."""

    def __init__(self, api, start: bool = True):
        self.lock = threading.RLock()
        self.simulated: set[str] = set()                       # names of simulated nodes
        self.pod_text: dict[tuple[str, str], tuple[bool, dict[str, bytes]]] = {}
        self.node_text: dict[str, dict[str, bytes]] = {}
        self.slice_text: dict[tuple[str, str], dict[str, bytes]] = {}
        self.version, self._body = 0, (-1, b"")
        self.pods = Informer(api, "/api/v1/pods", name="pods", transform=slim_pod, lock=self.lock,
                             on_add=self._pod, on_update=lambda _, pod: self._pod(pod), on_delete=self._pod_gone, log=log)
        self.nodes = Informer(api, "/api/v1/nodes", name="nodes", transform=slim_node, lock=self.lock,
                              on_add=self._node, on_update=lambda _, node: self._node(node), on_delete=self._node_gone,
                              log=log)
        self.slices = Informer(api, "/apis/discovery.k8s.io/v1/endpointslices", name="endpointslices",
                               transform=slim_endpointslice, lock=self.lock, on_add=self._slice,
                               on_update=lambda _, eps: self._slice(eps), on_delete=self._slice_gone, log=log)
        if start:
            self.nodes.start()
            self.pods.start()
            self.slices.start()

    @staticmethod
    def _key(obj: dict) -> tuple[str, str]:
        meta = obj["metadata"]
        return meta.get("namespace", ""), meta["name"]

    # the informers' callbacks (self.lock held)
    def _pod(self, pod: dict) -> None:
        sim = (pod["spec"].get("nodeName") or "") in self.simulated
        self.pod_text[self._key(pod)] = (sim, render(pod_families([pod], self.simulated)))
        self.version += 1

    def _pod_gone(self, pod: dict) -> None:
        self.pod_text.pop(self._key(pod), None)
        self.version += 1

    def _slice(self, eps: dict) -> None:
        self.slice_text[self._key(eps)] = render(endpointslice_families([eps], self.simulated))
        self.version += 1

    def _slice_gone(self, eps: dict) -> None:
        self.slice_text.pop(self._key(eps), None)
        self.version += 1

    def _node(self, node: dict) -> None:
        name = node["metadata"]["name"]
        self.node_text[name] = render(node_families([node]))
        self._simulated(name, node["metadata"]["labels"].get(SIMULATED_LABEL) == "true")
        self.version += 1

    def _node_gone(self, node: dict) -> None:
        name = node["metadata"]["name"]
        self.node_text.pop(name, None)
        self._simulated(name, False)
        self.version += 1

    def _simulated(self, name: str, sim: bool) -> None:
        """A node became simulated or stopped being one: its pods' and endpoints' series say so again."""
        if (name in self.simulated) == sim:
            return
        (self.simulated.add if sim else self.simulated.discard)(name)
        for key, pod in self.pods.store.items():
            if (pod["spec"].get("nodeName") or "") == name:
                self._pod(pod)
        for key, eps in self.slices.store.items():
            if any(e.get("nodeName") == name for e in eps["endpoints"]):
                self._slice(eps)

    # a scrape
    def synced(self) -> bool:
        return all(i.synced.is_set() for i in (self.pods, self.nodes, self.slices))

    def text(self) -> bytes:
        """Every family's HELP, TYPE and stored series (b"" before both caches are listed). Joined again only
        after a change; the API being down leaves the last-known objects."""
        if not self.synced():
            return b""
        with self.lock:
            if self._body[0] == self.version:
                return self._body[1]
            version = self.version
            pods = [self.pod_text[k][1] for k in sorted(self.pod_text)]
            nodes = [self.node_text[k] for k in sorted(self.node_text)]
            slices = [self.slice_text[k] for k in sorted(self.slice_text)]
        out = []
        for names, parts in ((POD_FAMILIES, pods), (NODE_FAMILIES, nodes), (SLICE_FAMILIES, slices)):
            for name in names:
                out.append(header(name))
                out.extend(p[name] for p in parts if name in p)
        body = b"".join(out)
        with self.lock:
            self._body = (version, body)
        return body


def serve(state: StateMetrics, address: str, port: int) -> ThreadingHTTPServer:
    """/metrics (any path): the process's own metrics (prometheus_client's process and GC collectors), then the state."""
    from prometheus_client import GC_COLLECTOR, PROCESS_COLLECTOR, CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

    registry = CollectorRegistry()
    registry.register(PROCESS_COLLECTOR)
    registry.register(GC_COLLECTOR)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            own, body = generate_latest(registry), state.text()   # not joined: the state may be tens of MB
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)
            self.send_header("Content-Length", str(len(own) + len(body)))
            self.end_headers()
            self.wfile.write(own)
            self.wfile.write(body)

        def log_message(self, *args):  # no line per scrape
            pass

    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="http").start()
    return server


def main(argv: list[str] | None = None) -> int:
    import argparse

    from kubernetes import config

    # the rule loader's (daemons.rule_loader): a thread of this process, as it shares the watch machinery
    loader = argparse.ArgumentParser(add_help=False)
    loader.add_argument("--prometheus")
    loader.add_argument("--rules-dir")
    rules, rest = loader.parse_known_args(argv)
    args = exporter_arguments("kubelab-state-metrics", __doc__.split("\n")[0], 8080, rest)
    api = config.new_client_from_config(args.kubeconfig, context=args.context)
    state = StateMetrics(api)
    if rules.prometheus and rules.rules_dir:
        from .rule_loader import RuleLoader
        RuleLoader(config.new_client_from_config(args.kubeconfig, context=args.context), rules.prometheus,
                   rules.rules_dir)
    serve(state, args.address, args.port)
    print(f"serving kube-state-metrics names on http://{args.address}:{args.port}/metrics", flush=True)
    sleep_forever()


if __name__ == "__main__":
    sys.exit(main())
