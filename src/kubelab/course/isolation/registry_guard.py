"""The OCI registry as a confined learner reaches it: only the repositories under their own namespaces.

The embedded registry (CNCF distribution) has no authorization of its own: anyone who reaches it may push, pull
and delete every repository. A confined process (a hub learner's JupyterLab, a grading kernel) reaches it only
through its Forwarder's socket, so there a RegistryGuard answers instead of a plain relay: an HTTP proxy that
passes on the registry's repository API for `oci://<registry>/<namespace>/...` when <namespace> is one of
`namespaces`, lists only those in the catalog, and refuses everything else with the registry's own 403 DENIED
error, which helm prints.

    guard = RegistryGuard(5000, {"ada-lab2"})
    Forwarder([6443, 5000], folder, guards=[guard])   # the 5000 socket is the guard's
    guard.namespaces = {"bob-lab2"}                   # the next learner graded (one at a time)
    for_services(env, namespaces)                     # [] or [RegistryGuard] for the KUBELAB_REGISTRY of env
"""
from __future__ import annotations

import json
import re

__all__ = ["RegistryGuard", "for_services"]

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"   # distribution's repository name grammar
_ROUTE = re.compile(rf"/v2/(?P<name>{_COMPONENT}(?:/{_COMPONENT})*)/"
                    r"(?:manifests/[^/]+|blobs/[^/]+|blobs/uploads/[^/]*|tags/list|referrers/[^/]+)")
# hop-by-hop headers (RFC 9110 7.6.1) and Host (the proxy's own connection sets it): never passed on
_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding",
        "upgrade", "host"}


class RegistryGuard:
    """An HTTP proxy to the registry on 127.0.0.1:`port` that lets through only the repositories whose first path
    component is one of `namespaces` (a set; change it between learners)."""

    def __init__(self, port: int, namespaces=()):
        self.port = int(port)
        self.namespaces = set(namespaces)
        self._session = None

    def _own(self, repository: str) -> bool:
        return repository.split("/", 1)[0] in self.namespaces

    def refuses(self, method: str, raw_path: str, query) -> str | None:
        """Why the request is refused, or None when it goes to the registry."""
        if raw_path in ("/v2", "/v2/") or (raw_path == "/v2/_catalog" and method in ("GET", "HEAD")):
            return None
        route = _ROUTE.fullmatch(raw_path)
        if route is None:
            return f"kubelab: {method} {raw_path} is not a request on a repository of your namespaces"
        for repository in (route["name"], *query.getall("from", [])):   # `from`: a blob mounted from another repository
            if not self._own(repository):
                return (f"kubelab: {repository} is not in one of your namespaces ({', '.join(sorted(self.namespaces))}):"
                        " use oci://<registry>/<your namespace>/<chart>")
        return None

    async def start(self, path: str):
        """Serve on the Unix socket `path` (in the running event loop); returns the asyncio server."""
        import asyncio

        from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

        self._session = ClientSession(connector=TCPConnector(limit=16), timeout=ClientTimeout(total=None, sock_connect=10),
                                      auto_decompress=False, skip_auto_headers=("User-Agent", "Accept-Encoding"))
        return await asyncio.get_running_loop().create_unix_server(web.Server(self._handle), path=path)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _handle(self, request):
        from aiohttp import web

        raw_path = request.rel_url.raw_path
        why = self.refuses(request.method, raw_path, request.rel_url.query)
        if why:
            return web.json_response({"errors": [{"code": "DENIED", "message": why, "detail": None}]}, status=403)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
        async with self._session.request(request.method, f"http://127.0.0.1:{self.port}{request.rel_url.raw_path_qs}",
                                         headers=headers, data=request.content if request.body_exists else None,
                                         allow_redirects=False) as upstream:
            out = [(k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP]
            if raw_path == "/v2/_catalog" and upstream.status == 200 and request.method == "GET":
                listed = json.loads(await upstream.read())
                listed["repositories"] = [r for r in listed.get("repositories") or [] if self._own(r)]
                out = [(k, v) for k, v in out if k.lower() not in ("content-length", "content-type")]
                return web.json_response(listed, headers=out)
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=out)
            await response.prepare(request)
            if request.method != "HEAD":
                async for chunk in upstream.content.iter_chunked(65536):
                    await response.write(chunk)
            await response.write_eof()
            return response


def for_services(env: dict, namespaces) -> list[RegistryGuard]:
    """A RegistryGuard for the registry of `env` (KUBELAB_REGISTRY, when it is on loopback: one a Forwarder passes
    on) open to `namespaces`; [] when there is none."""
    from ... import tools
    from .confine import loopback_ports

    port = loopback_ports([env[tools.REGISTRY_ENV]]) if env.get(tools.REGISTRY_ENV) else None
    return [RegistryGuard(port[0], {ns for ns in namespaces if ns})] if port else []
