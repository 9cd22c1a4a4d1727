"""The image catalogue of the simulated kubelet (cluster/images.yaml): which repositories and tags exist,
what each image listens on, its working set, start-up time and what its entrypoint needs. Loading and
validating the file, and the pure look-ups the kubelet makes (`Catalogue.pull`, `Catalogue.behaviour`).

The rule for images not listed: an unlisted repository pulls and runs with generic behaviour (no
crash, every probe passes, no working set); a listed repository with an unlisted tag does not exist."""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .._k8s.quantity import checked, to_float
from .paths import read_config, repo_root

__all__ = ["Access", "Behaviour", "Catalogue", "Command", "Image", "Need", "Pull", "default_images_file", "load",
           "normalize", "parse_reference"]

DOCKER_HUB = "docker.io"
REPOSITORY = re.compile(r"^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?$")


def _quantity(value: str) -> str:
    return checked(value, '"10Mi", "1Gi"')


def _listens(value: dict) -> dict:
    for port, paths in value.items():
        if not (isinstance(port, int) and 1 <= port <= 65535) and port != "{port}":
            raise ValueError(f"port {port!r} is not a port number (1-65535) or \"{{port}}\"")
        if not all(isinstance(p, str) and p.startswith("/") for p in paths):
            raise ValueError(f"port {port}: HTTP paths start with '/' (got {paths!r}); [] means TCP only")
    return value


class Need(BaseModel):
    """What an entrypoint needs to start, and how it dies without it."""
    model_config = ConfigDict(extra="forbid")
    # one must be met: "NAME" (set, non-empty), "NAME=value" (that literal value), "NAME=@mounted" (a path under
    # a volume mount: an entrypoint's NAME_FILE, e.g. POSTGRES_PASSWORD_FILE)
    env: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(=.+)?$")]] | None = Field(default=None, min_length=1)
    mount: str | None = None
    exit_code: int = Field(default=1, ge=1, le=255)
    log: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one(self):
        if (self.env is None) == (self.mount is None):
            raise ValueError("a need is either `env` (a list of variables, one of which must be set) or "
                             "`mount` (a path that must be mounted), not both or neither")
        return self


class Access(BaseModel):
    """An API request the entrypoint makes as its ServiceAccount; denied, it dies with `log`."""
    model_config = ConfigDict(extra="forbid")
    verb: str = Field(pattern=r"^(get|list|watch|create|update|patch|delete|deletecollection)$")
    resource: str = Field(min_length=1)   # plural or short name, "{resource}" from a command's match
    group: str = ""                       # "" = the core group, unless the resource says it (deployments.apps)
    exit_code: int = Field(default=1, ge=1, le=255)
    log: str = "{message}"                # {message}: the API server's forbidden message ({message_json}: escaped)

    def printed(self, message: str) -> str:
        """What the process prints when the API server refuses it with `message`."""
        import json
        return self.log.replace("{message}", message).replace("{message_json}", json.dumps(message)[1:-1])


class Command(BaseModel):
    """Behaviour when the pod's command line matches `match`."""
    model_config = ConfigDict(extra="forbid")
    match: str
    listens: dict[int | str, list[str]] | None = None
    default_port: int | None = Field(default=None, ge=1, le=65535)
    memory: str | None = None
    needs: list[Need] = []
    api: list[Access] = []
    exits: bool = False
    startup_s: float | None = Field(default=None, ge=0, le=600)   # None: the image's

    _check_listens = field_validator("listens")(lambda v: v if v is None else _listens(v))
    _check_memory = field_validator("memory")(lambda v: v if v is None else _quantity(v))

    @field_validator("match")
    @classmethod
    def _regex(cls, v):
        try:
            re.compile(v)
        except re.error as err:
            raise ValueError(f"`match` {v!r} is not a regular expression: {err}")
        return v


class Image(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repository: str
    tags: list[str] = Field(min_length=1)
    variants: list[str] = [""]
    listens: dict[int, list[str]] = {}
    memory: str = "0"
    startup_s: float = Field(default=0.5, ge=0, le=600)
    stop_exit_code: int = Field(default=137, ge=0, le=255)
    needs: list[Need] = []
    api: list[Access] = []
    exits: bool = False
    commands: list[Command] = []

    _check_listens = field_validator("listens")(_listens)
    _check_memory = field_validator("memory")(_quantity)

    @field_validator("repository")
    @classmethod
    def _repository(cls, v):
        if not REPOSITORY.match(v) or ":" in v.rsplit("/", 1)[-1] or "@" in v:
            raise ValueError(f"{v!r} is not an image repository without a tag (examples: nginx, "
                             "hashicorp/http-echo, registry.k8s.io/pause)")
        return v

    def has_tag(self, tag: str) -> bool:
        return any(fnmatch.fnmatchcase(tag, t + v) for t in self.tags for v in self.variants)


class CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unresolvable: list[str] = []
    images: list[Image] = []

    @model_validator(mode="after")
    def _unique(self):
        names = [normalize(i.repository) for i in self.images]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"each repository is listed once; repeated: {', '.join(dupes)}")
        return self


def parse_reference(image: str) -> tuple[str, str, str, str]:
    """'nginx:1.27' -> ('docker.io', 'library/nginx', '1.27', ''); the tag defaults to latest; the
    digest ('sha256:...') is '' when there is none."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = ""
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, name
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return registry, path, tag or ("" if digest else "latest"), digest


def normalize(repository: str) -> str:
    """The fully qualified repository, as containerd names it: nginx -> docker.io/library/nginx."""
    registry, path, _, _ = parse_reference(repository)
    return f"{registry}/{path}"


@dataclass(frozen=True)
class Pull:
    """What pulling an image does: ok, or the error containerd reports (message)."""
    ok: bool
    message: str = ""
    image: Image | None = None


@dataclass
class Behaviour:
    """What a container of this image does with this command line. listens None: unknown (probes pass)."""
    listens: dict[int, list[str]] | None
    memory: float = 0.0
    startup_s: float = 0.5
    needs: list[Need] = field(default_factory=list)
    stop_exit_code: int = 137
    api: list[Access] = field(default_factory=list)
    exits: bool = False         # the process ends by itself (a CLI such as kubectl or curl)


class Catalogue:
    def __init__(self, images: list[Image], unresolvable: list[str] = ()):
        self.images = {normalize(i.repository): i for i in images}
        self.unresolvable = list(unresolvable)

    def pull(self, image: str) -> Pull:
        """Pulling `image`, by the rule above."""
        registry, path, tag, digest = parse_reference(image)
        ref = f"{registry}/{path}" + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
        if any(fnmatch.fnmatchcase(registry, pattern) for pattern in self.unresolvable):
            return Pull(False, f'rpc error: code = Unknown desc = failed to pull and unpack image "{ref}": '
                               f'failed to resolve reference "{ref}": failed to do request: Head '
                               f'"https://{registry}/v2/{path}/manifests/{tag or digest}": dial tcp: '
                               f'lookup {registry}: no such host')
        entry = self.images.get(f"{registry}/{path}")
        if entry is None or digest or entry.has_tag(tag):
            return Pull(True, image=entry)
        return Pull(False, f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": '
                           f'failed to resolve reference "{ref}": {ref}: not found', entry)

    def behaviour(self, image: str, command: list[str] | None = None, args: list[str] | None = None) -> Behaviour:
        """What a container runs like. Unlisted image: generic (unknown ports, no working set, no needs)."""
        entry = self.pull(image).image
        if entry is None:
            return Behaviour(listens=None)
        memory = to_float(entry.memory)
        if not command and not args:
            return Behaviour(dict(entry.listens), memory, entry.startup_s, list(entry.needs), entry.stop_exit_code,
                             list(entry.api), entry.exits)
        line = " ".join(str(p) for p in [*(command or []), *(args or [])])
        for cmd in entry.commands:
            m = re.search(cmd.match, line)
            if not m:
                continue
            groups = {k: v for k, v in m.groupdict().items() if v is not None}
            if cmd.default_port and "port" not in groups:
                groups["port"] = str(cmd.default_port)
            listens = None
            if cmd.listens is not None:
                listens = {int(_fill(str(p), groups)): paths for p, paths in cmd.listens.items()}
            needs = [n.model_copy(update={"mount": _fill(n.mount, groups) if n.mount else None,
                                          "log": _fill(n.log, groups)}) for n in cmd.needs]
            mem = to_float(cmd.memory) if cmd.memory else memory
            api = [a.model_copy(update={"resource": _fill(a.resource, groups)}) for a in cmd.api]
            startup = entry.startup_s if cmd.startup_s is None else cmd.startup_s
            return Behaviour(listens, mem, startup, needs, entry.stop_exit_code, api, cmd.exits)
        if not command:  # args only: the entrypoint still runs, with its needs; what it serves is unknown
            return Behaviour(None, memory, entry.startup_s, list(entry.needs), entry.stop_exit_code, [], entry.exits)
        return Behaviour(None, memory, entry.startup_s, [], entry.stop_exit_code)


def _fill(text: str, groups: dict[str, str]) -> str:
    for k, v in groups.items():
        text = text.replace("{" + k + "}", v)
    return text


def default_images_file() -> Path:
    return repo_root() / "cluster" / "images.yaml"


def load(*extra: str | Path | None) -> Catalogue:
    """The default catalogue (cluster/images.yaml) extended by `extra` files (an entry for the same
    repository replaces the default one). Any problem is one ConfigError naming the place and the fix."""
    images: dict[str, Image] = {}
    unresolvable: list[str] = []
    for path in [default_images_file(), *(Path(p) for p in extra if p)]:
        doc = _read(path)
        for image in doc.images:
            images[normalize(image.repository)] = image
        unresolvable += [u for u in doc.unresolvable if u not in unresolvable]
    return Catalogue(list(images.values()), unresolvable)


def _read(path: Path) -> CatalogueFile:
    return read_config(path, CatalogueFile, "image catalogue", empty={},
                       missing_fix="pass an existing file with --images, or omit it to use cluster/images.yaml only",
                       fields_fix="correct those fields (the comments at the top of cluster/images.yaml say what each "
                                  "means)")