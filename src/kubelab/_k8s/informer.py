"""ONE informer-style cache of a resource (client-go's SharedInformer, small): list, then watch from the list's
resourceVersion, with bookmarks; list again on 410 Gone or any error. The daemons read the cluster through it,
never with a full list per request.

    pods = Informer(api, "/api/v1/pods", transform=slim).start()
    pods.synced.wait()
    pods.snapshot()          # the stored values, a consistent copy

Raw JSON throughout (`call_api(..., _preload_content=False)`, no client models). The list is paginated
(`limit`/`continue`): one page of raw bytes at a time, each item transformed as its page is read, so a 10,000-pod
list is never in memory twice. `transform(obj)` (client-go's SetTransform) keeps only what the reader needs; it
returns None for an object not to keep (a stored one that turns None counts as deleted). Callbacks, called with
`lock` held: `on_add(value)`, `on_update(old, new)` (only when the value changed), `on_delete(value)`; a relist
calls `on_replace(values)` when given, otherwise the add/update/delete that take the store to the new list.
`store=False` keeps nothing (the callbacks keep what they need; `on_update`'s old is then None).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from .raw import gc_paused

__all__ = ["Informer", "drop_managed_fields", "object_key"]

PAGE_SIZE = 500
WATCH_TIMEOUT_S = 300


def object_key(obj: dict) -> tuple[str, str]:
    """(namespace, name): "" for a cluster-scoped object's namespace."""
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


def drop_managed_fields(obj: dict) -> dict:
    """The object without metadata.managedFields (server-side apply's bookkeeping, often a third of a pod)."""
    meta = obj.get("metadata")
    if meta and "managedFields" in meta:
        meta.pop("managedFields")
    return obj


def _status(err) -> int | None:
    return getattr(err, "status", None)


class Informer:
    """A cache of one resource (`path`: /api/v1/pods, /apis/group/v1/plural), fed by list and watch."""

    def __init__(self, api, path: str, *, name: str | None = None, params: dict[str, str] | None = None,
                 transform: Callable[[dict], object] | None = None, key: Callable[[dict], object] = object_key,
                 on_add: Callable | None = None, on_update: Callable | None = None, on_delete: Callable | None = None,
                 on_replace: Callable | None = None, store: bool = True, lock=None, page_size: int = PAGE_SIZE,
                 absent_ok: bool = False, log: logging.Logger | None = None):
        self.api, self.path, self.name = api, path, name or path.rsplit("/", 1)[-1]
        self.params = {k: v for k, v in (params or {}).items() if v}
        self.transform, self.key = transform, key
        self.on_add, self.on_update, self.on_delete, self.on_replace = on_add, on_update, on_delete, on_replace
        self.keep = store
        self.store: dict = {}
        self.lock = lock if lock is not None else threading.RLock()
        self.page_size, self.absent_ok = page_size, absent_ok
        self.log = log or logging.getLogger("kubelab.informer")
        self.synced = threading.Event()
        self.stopped = threading.Event()
        self.resource_version: str | None = None
        self.relists = 0
        self._thread: threading.Thread | None = None

    # -- reading ----------------------------------------------------------------------------------
    def snapshot(self) -> list:
        """The stored values now (a new list; the values themselves are shared and must not be changed)."""
        with self.lock:
            return list(self.store.values())

    def get(self, key, default=None):
        with self.lock:
            return self.store.get(key, default)

    def __len__(self) -> int:
        return len(self.store)

    # -- the cache's semantics (pure: no API calls) --------------------------------------------------
    def _value(self, obj: dict):
        return self.transform(obj) if self.transform is not None else obj

    def replace(self, objects: Iterable[dict]) -> None:
        """A fresh list: the store becomes exactly `objects` (transformed). The transform runs before the lock is
        taken (the objects may be a generator reading pages from the API)."""
        fresh: dict = {}
        for obj in objects:
            value = self._value(obj)
            if value is not None:
                fresh[self.key(obj)] = value
        with self.lock:
            old, self.store = self.store, (fresh if self.keep else {})
            if self.on_replace is not None:
                self.on_replace(list(fresh.values()))
            elif not self.keep:
                for value in fresh.values():
                    if self.on_add:
                        self.on_add(value)
            else:
                for k, value in old.items():
                    if k not in fresh and self.on_delete:
                        self.on_delete(value)
                for k, value in fresh.items():
                    before = old.get(k)
                    if before is None:
                        if self.on_add:
                            self.on_add(value)
                    elif before != value and self.on_update:
                        self.on_update(before, value)
        self.relists += 1

    def apply(self, type_: str, obj: dict) -> None:
        """One watch event: ADDED, MODIFIED or DELETED (BOOKMARK and ERROR are the watch loop's)."""
        key = self.key(obj)
        value = self._value(obj)
        with self.lock:
            if not self.keep:
                if value is None:
                    return
                callback = {"ADDED": self.on_add, "DELETED": self.on_delete}.get(type_)
                if type_ == "MODIFIED" and self.on_update:
                    self.on_update(None, value)
                elif callback:
                    callback(value)
                return
            before = self.store.get(key)
            if type_ == "DELETED" or value is None:
                if before is not None:
                    del self.store[key]
                    if self.on_delete:
                        self.on_delete(before)
                return
            self.store[key] = value
            if before is None:
                if self.on_add:
                    self.on_add(value)
            elif before != value and self.on_update:
                self.on_update(before, value)

    # -- the API ------------------------------------------------------------------------------------
    def _get(self, query: list[tuple[str, str]], timeout):
        return self.api.call_api(self.path, "GET", auth_settings=["BearerToken"], _preload_content=False,
                                 query_params=query, _request_timeout=timeout)

    def _pages(self) -> Iterator[dict]:
        """Every object, a page at a time; sets self.resource_version to the list's."""
        token = None
        while True:
            query = [*self.params.items(), ("limit", str(self.page_size))]
            if token:
                query.append(("continue", token))
            resp = self._get(query, 60)
            with gc_paused():
                page = json.loads(resp.data)
            del resp
            meta = page.get("metadata") or {}
            self.resource_version = meta.get("resourceVersion")
            items = page.get("items") or []
            del page
            yield from items
            del items
            token = meta.get("continue")
            if not token:
                return

    def list(self) -> None:
        self.replace(self._pages())
        self.synced.set()

    def watch(self) -> bool:
        """Watch from self.resource_version until the server ends the watch; False: list again (410 Gone)."""
        from kubernetes.watch.watch import iter_resp_lines

        query = [*self.params.items(), ("watch", "true"), ("resourceVersion", self.resource_version),
                 ("allowWatchBookmarks", "true"), ("timeoutSeconds", str(WATCH_TIMEOUT_S))]
        resp = self._get(query, (10, WATCH_TIMEOUT_S + 30))
        try:
            for line in iter_resp_lines(resp):
                if self.stopped.is_set():
                    return True
                event = json.loads(line)
                obj, type_ = event.get("object") or {}, event.get("type")
                if type_ == "ERROR":
                    return obj.get("code") != 410
                self.resource_version = (obj.get("metadata") or {}).get("resourceVersion", self.resource_version)
                if type_ != "BOOKMARK":
                    self.apply(type_, obj)
            return True
        finally:
            resp.close()
            resp.release_conn()

    def run(self) -> None:
        """List and watch until stopped; an error (the API server starting or restarting, a timeout) lists again."""
        listed = False
        while not self.stopped.is_set():
            try:
                if not listed:
                    self.list()
                    listed = True
                listed = self.watch()
            except Exception as err:
                listed = False
                if self.absent_ok and _status(err) == 404:   # the API group is not served: nothing to keep
                    self.replace([])
                    self.synced.set()
                    self.stopped.wait(30)
                    continue
                if _status(err) == 410:                      # a page's continue token expired: list again now
                    continue
                if self.synced.is_set():
                    self.log.warning("watch %s: %s; retrying", self.name, err)
                self.stopped.wait(1 if self.synced.is_set() else 0.2)

    def start(self) -> Informer:
        self._thread = threading.Thread(target=self.run, daemon=True, name=f"watch-{self.name}")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current request (a watch ends within WATCH_TIMEOUT_S, or at its next event)."""
        self.stopped.set()
