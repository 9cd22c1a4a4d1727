"""The informer's cache semantics without a cluster: events, transform, relist, callbacks, pages and watch events
read from a fake API client."""
import json
import threading

import pytest

from kubelab._k8s.informer import Informer, drop_managed_fields, object_key

pytestmark = pytest.mark.unit


def obj(name, ns="a", rv="1", **extra):
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv, "managedFields": [{"x": 1}]}, **extra}


class Recorder:
    def __init__(self):
        self.events = []

    def kw(self):
        return {"on_add": lambda v: self.events.append(("add", v)),
                "on_update": lambda old, new: self.events.append(("update", old, new)),
                "on_delete": lambda v: self.events.append(("delete", v))}


def test_events_keep_the_store_and_call_back_only_on_a_change():
    rec = Recorder()
    inf = Informer(None, "/api/v1/pods", transform=lambda o: o["metadata"]["resourceVersion"], **rec.kw())
    inf.apply("ADDED", obj("p", rv="1"))
    inf.apply("MODIFIED", obj("p", rv="1"))      # the same stored value: no callback
    inf.apply("MODIFIED", obj("p", rv="2"))
    inf.apply("DELETED", obj("p", rv="3"))
    inf.apply("DELETED", obj("q"))               # never seen: nothing
    assert rec.events == [("add", "1"), ("update", "1", "2"), ("delete", "2")]
    assert inf.snapshot() == [] and len(inf) == 0


def test_transform_none_is_not_kept_and_a_kept_object_turning_none_is_deleted():
    rec = Recorder()
    keep_running = lambda o: o.get("phase") if o.get("phase") == "Running" else None
    inf = Informer(None, "/api/v1/pods", transform=keep_running, **rec.kw())
    inf.apply("ADDED", obj("p", phase="Pending"))
    assert inf.snapshot() == [] and rec.events == []
    inf.apply("MODIFIED", obj("p", phase="Running"))
    assert inf.get(("a", "p")) == "Running" and rec.events == [("add", "Running")]
    inf.apply("MODIFIED", obj("p", phase="Succeeded"))
    assert inf.get(("a", "p")) is None and rec.events[-1] == ("delete", "Running")


def test_relist_diffs_the_store_into_adds_updates_and_deletes():
    rec = Recorder()
    inf = Informer(None, "/api/v1/pods", transform=lambda o: o.get("v"), **rec.kw())
    inf.replace([obj("a", v=1), obj("b", v=2), obj("c", v=3)])
    assert sorted(inf.snapshot()) == [1, 2, 3] and [e[0] for e in rec.events] == ["add"] * 3
    rec.events.clear()
    inf.replace([obj("b", v=2), obj("c", v=30), obj("d", v=4)])   # a gone, b same, c changed, d new
    assert sorted(rec.events, key=str) == sorted([("delete", 1), ("update", 3, 30), ("add", 4)], key=str)
    assert sorted(inf.snapshot()) == [2, 4, 30]


def test_relist_with_on_replace_hands_over_the_whole_list_instead():
    got, rec = [], Recorder()
    inf = Informer(None, "/api/v1/pods", on_replace=got.append, **rec.kw())
    inf.replace([obj("a"), obj("b")])
    assert [o["metadata"]["name"] for o in got[0]] == ["a", "b"] and rec.events == []


def test_store_false_keeps_nothing_and_passes_every_event_on():
    rec, replaced = Recorder(), []
    inf = Informer(None, "/api/v1/pods", store=False, transform=drop_managed_fields, on_replace=replaced.append,
                   **rec.kw())
    inf.replace([obj("a")])
    inf.apply("ADDED", obj("b"))
    inf.apply("MODIFIED", obj("b", rv="2"))
    inf.apply("DELETED", obj("b", rv="3"))
    assert inf.snapshot() == [] and len(replaced[0]) == 1
    assert [e[0] for e in rec.events] == ["add", "update", "delete"] and rec.events[1][1] is None
    assert all("managedFields" not in e[-1]["metadata"] for e in rec.events)


def test_callbacks_run_under_the_given_lock():
    lock = threading.Lock()
    held = []
    inf = Informer(None, "/api/v1/pods", lock=lock, on_add=lambda v: held.append(lock.locked()))
    inf.apply("ADDED", obj("a"))
    inf.replace([obj("b")])
    assert held == [True, True]


def test_object_key_of_a_cluster_scoped_object():
    assert object_key({"metadata": {"name": "n"}}) == ("", "n")


class _Resp:
    def __init__(self, body=b"", lines=()):
        self.data, self.lines = body, list(lines)
        self.closed = False

    def stream(self, *a, **kw):          # what kubernetes.watch.watch.iter_resp_lines reads
        for line in self.lines:
            yield (line + "\n").encode()

    def close(self):
        self.closed = True

    def release_conn(self):
        pass


class FakeApi:
    """Pages of a list (limit/continue) and one watch stream."""

    def __init__(self, items, page_size, watch_events):
        self.items, self.page, self.watch_events, self.calls = items, page_size, watch_events, []

    def call_api(self, path, method, query_params=(), **kw):
        q = dict(query_params)
        self.calls.append(q)
        if q.get("watch") == "true":
            return _Resp(lines=[json.dumps(e) for e in self.watch_events])
        start = int(q.get("continue") or 0)
        end = start + int(q["limit"])
        meta = {"resourceVersion": "10", **({"continue": str(end)} if end < len(self.items) else {})}
        return _Resp(json.dumps({"metadata": meta, "items": self.items[start:end]}).encode())


def test_list_is_paginated_and_the_watch_resumes_from_its_version_and_bookmarks():
    items = [obj(f"p{i}") for i in range(5)]
    events = [{"type": "ADDED", "object": obj("p9", rv="11")},
              {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}},
              {"type": "DELETED", "object": obj("p0", rv="16")}]
    api = FakeApi(items, 2, events)
    inf = Informer(api, "/api/v1/pods", page_size=2, params={"labelSelector": "x=y", "fieldSelector": None})
    inf.list()
    assert inf.synced.is_set() and len(inf) == 5 and inf.resource_version == "10"
    assert [c.get("continue") for c in api.calls] == [None, "2", "4"]
    assert all(c["labelSelector"] == "x=y" and "fieldSelector" not in c for c in api.calls)
    assert inf.watch() is True                                   # the server ended the watch: watch again
    assert api.calls[-1]["resourceVersion"] == "10" and api.calls[-1]["allowWatchBookmarks"] == "true"
    assert inf.resource_version == "16" and sorted(k[1] for k in inf.store) == ["p1", "p2", "p3", "p4", "p9"]


def test_a_410_error_event_asks_for_a_relist():
    api = FakeApi([], 10, [{"type": "ERROR", "object": {"kind": "Status", "code": 410}}])
    inf = Informer(api, "/api/v1/pods")
    inf.list()
    assert inf.watch() is False
