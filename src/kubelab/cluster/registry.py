"""The embedded cluster's OCI registry: the CNCF distribution registry (cmd/registry, built from the pinned
Go module like the other tools) on 127.0.0.1, with filesystem storage under the cluster's own folder and
deletes enabled. Helm 4 pushes, pulls and installs charts from it (`oci://127.0.0.1:PORT/...`,
`--plain-http`: it serves plain HTTP on loopback only).

    reg = Registry(workdir)            # the config is kept with the cluster: a restart keeps port and data
    reg.address                        # "127.0.0.1:5000"
    c = Client(reg.address)            # the distribution HTTP API, for this registry or any other
    c.repositories(prefix="alice-lab2/")
    c.delete_repository("alice-lab2/model-server")     # every manifest (distribution's DELETE API)
"""
from __future__ import annotations

import contextlib
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from ..errors import ClusterUnavailable, KubelabError, PortInUse
from .paths import PartFolder

__all__ = ["Client", "MANIFEST_TYPES", "Registry", "pick_port"]

# what a Helm chart (OCI artifact) or an image is stored as; a HEAD with these returns its digest
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json",
                  "application/vnd.docker.distribution.manifest.list.v2+json")


def pick_port(taken: set[int], first: int = 5000, last: int = 9999) -> int:
    """The first port of first..last that is free on 127.0.0.1 and not in `taken` (other clusters' registries)."""
    for port in range(first, last + 1):
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise PortInUse(f"no free port for the registry in {first}-{last} on 127.0.0.1",
                    "stop a process that holds these ports, or another cluster's registry")


class Registry(PartFolder):
    """The registry of one cluster, kept in `<workdir>/registry/` (config.yml, data/)."""
    FOLDER, CONFIG = "registry", "config.yml"

    def port(self) -> int | None:
        with contextlib.suppress(OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
            return int(yaml.safe_load(self.config_file.read_text())["http"]["addr"].rsplit(":", 1)[1])
        return None

    @property
    def address(self) -> str:
        port = self.port()
        if not port:
            raise ClusterUnavailable(f"this cluster has no registry yet ({self.config_file} is missing)",
                                     "start the cluster with `kubelab cluster up`")
        return f"127.0.0.1:{port}"

    def configure(self, port: int) -> Path:
        """Write the registry's config (port, storage under this folder, deletes on); returns its path."""
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        config = {"version": 0.1,
                  "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
                  "storage": {"filesystem": {"rootdirectory": str(self.dir / "data")},
                              "delete": {"enabled": True},  # a lab's reset deletes a learner's charts
                              "maintenance": {"uploadpurging": {"enabled": False}}},
                  "http": {"addr": f"127.0.0.1:{port}", "headers": {"X-Content-Type-Options": ["nosniff"]}}}
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        return self.config_file

    def command(self, binary: str | Path) -> list[str]:
        return [str(binary), "serve", str(self.config_file)]

    def answering(self) -> bool:
        """The registry is configured and GET /v2/ answers 200."""
        return bool(self.port()) and Client(self.address).answering()


class Client:
    """The registry HTTP API (the OCI distribution spec) of the registry at `address` (host:port, plain
    HTTP, no authentication: the embedded cluster's registry, or one like it)."""

    def __init__(self, address: str):
        self.address = address.removeprefix("oci://").removeprefix("http://").rstrip("/")

    def _request(self, method: str, path: str, headers: dict | None = None, timeout: float = 5):
        req = urllib.request.Request(f"http://{self.address}{path}", method=method, headers=headers or {})
        return urllib.request.urlopen(req, timeout=timeout)

    def answering(self) -> bool:
        """GET /v2/ answers 200 (the registry is up)."""
        try:
            with self._request("GET", "/v2/", timeout=2) as resp:
                return resp.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def repositories(self, prefix: str = "") -> list[str]:
        """The repositories that hold something (the catalog), those starting with `prefix`."""
        names, last = [], ""
        while True:
            with self._request("GET", f"/v2/_catalog?n=1000{'&last=' + last if last else ''}") as resp:
                page = json.loads(resp.read() or b"{}").get("repositories") or []
            names += page
            if len(page) < 1000:
                return [n for n in names if n.startswith(prefix)]
            last = page[-1]

    def tags(self, repository: str) -> list[str]:
        """The tags of `repository` ([] when it has none or does not exist)."""
        try:
            with self._request("GET", f"/v2/{repository}/tags/list") as resp:
                return sorted(json.loads(resp.read() or b"{}").get("tags") or [])
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return []
            raise

    def digest(self, repository: str, reference: str) -> str | None:
        """The manifest digest a tag points to (None when there is no such tag)."""
        try:
            with self._request("HEAD", f"/v2/{repository}/manifests/{reference}",
                               {"Accept": ", ".join(MANIFEST_TYPES)}) as resp:
                return resp.headers.get("Docker-Content-Digest")
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise

    def delete_repository(self, repository: str) -> int:
        """Delete every tagged manifest of `repository` (DELETE /v2/<name>/manifests/<digest>, which also
        removes the tags that point to it); returns how many manifests were deleted."""
        digests = {d for d in (self.digest(repository, t) for t in self.tags(repository)) if d}
        for d in sorted(digests):
            try:
                self._request("DELETE", f"/v2/{repository}/manifests/{d}").close()
            except urllib.error.HTTPError as err:
                if err.code != 404:  # deleted meanwhile
                    raise KubelabError(f"the registry refused to delete {repository}@{d}: {err.code} {err.reason}",
                                       "the registry needs storage.delete.enabled: true in its config") from None
        return len(digests)
