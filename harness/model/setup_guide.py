"""What a vendor's own self-hosting guide asks of a user, as data: a platform.yaml's `setup_guide`.

Setup complexity is operationalised from what a user does (issue 21, item 5): the long-running
services and the one-shot jobs the vendor's guide starts for a production-shaped single-machine
deployment, and the configuration keys the user must set or generate for it. The lists are the
record; every count is derived from them (setup_counts), never written beside them.

Counting rules, the same for every platform (each platform.yaml's notes say where a guide makes
them ambiguous and which reading was taken):
- services: what the guide's own `docker compose up` keeps running (a service at replicas 0 or
  behind a compose profile is not started, so it is not listed); `replicas` as the guide ships it.
  `optional` marks a service the guide itself calls optional (it is still counted, as the guide
  starts it; essential_services leaves it out).
- oneshots: containers or commands that run once and exit (schema migrations, config generation,
  token creation the guide tells the user to run).
- required_config: a key counts when the guide's deployment does not work without it (no working
  default) or the guide tells the user to set or generate it. One key name counts once, however
  many services set it. Keys the guide sets that restate or tune a working default are listed under
  also_set, uncounted, so the reader can see them.
"""

from __future__ import annotations

from typing import Literal, NamedTuple
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Role = Literal["server", "scheduler", "worker", "ui", "database", "queue", "proxy", "support"]
KeyKind = Literal["connection", "credential", "address", "mode", "storage", "identity"]

# Hosts that serve packages or images rather than documentation: a guide is never cited there.
REGISTRY_HOSTS = frozenset(
    {"pypi.org", "npmjs.com", "www.npmjs.com", "hub.docker.com", "ghcr.io", "crates.io", "search.maven.org"}
)

_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)


class GuideDocument(BaseModel):
    """The vendor document the facts come from."""

    model_config = _STRICT

    title: str = Field(min_length=1)  # the document's own title
    url: str  # its public address (the vendor's docs, or the vendor's repository file it points to)
    version: str = Field(min_length=1)  # the release and/or date it describes
    source: str = Field(min_length=1)  # the file and commit or tag the facts were read from

    @field_validator("url")
    @classmethod
    def _public_docs_url(cls, url: str) -> str:
        parsed = urlparse(url)
        if parsed.scheme != "https" or not parsed.netloc:
            raise ValueError(f"{url!r} is not an https:// address")
        if parsed.netloc.lower() in REGISTRY_HOSTS:
            raise ValueError(f"{parsed.netloc} is a package registry, not the vendor's documentation")
        return url


class GuideService(BaseModel):
    """One long-running container or process the guide starts."""

    model_config = _STRICT

    name: str = Field(min_length=1)  # as the guide names it
    role: Role
    replicas: int = Field(default=1, ge=1)  # as the guide ships it
    optional: bool = False  # the guide itself calls it optional
    note: str = ""  # what runs inside, when the name does not say (e.g. several services in one binary)


class GuideJob(BaseModel):
    """One job the guide runs once (it exits when done)."""

    model_config = _STRICT

    name: str = Field(min_length=1)
    does: str = Field(min_length=1)


class GuideKey(BaseModel):
    """One configuration key the user must set or generate."""

    model_config = _STRICT

    key: str = Field(min_length=1)  # the key's name as the guide writes it
    where: str = Field(min_length=1)  # the service(s) or file that set it
    kind: KeyKind
    why: str = Field(min_length=1)  # one line: why it has no working default here


class SetupGuide(BaseModel):
    """A platform's `setup_guide` block: the facts, never a count."""

    model_config = _STRICT

    guide: GuideDocument
    services: list[GuideService] = Field(min_length=1)
    oneshots: list[GuideJob] = []
    required_config: list[GuideKey] = []
    also_set: list[str] = []  # keys the guide sets that have working defaults (not counted)
    notes: list[str] = []  # what makes a count ambiguous, and the reading chosen

    @model_validator(mode="after")
    def _each_name_once(self) -> SetupGuide:
        for field, names in (
            ("services", [s.name for s in self.services]),
            ("oneshots", [j.name for j in self.oneshots]),
            ("required_config", [k.key for k in self.required_config]),
        ):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{field}: {', '.join(twice)} listed twice (each counts once)")
        counted = {k.key for k in self.required_config}
        both = sorted(counted.intersection(self.also_set))
        if both:
            raise ValueError(f"also_set: {', '.join(both)} is in required_config too")
        return self


class SetupCounts(NamedTuple):
    """The figures a report shows per platform, all derived from a SetupGuide's lists."""

    services: int  # long-running services the guide starts
    containers: int  # the same, counting each replica
    essential_services: int  # services the guide does not call optional
    oneshots: int  # one-shot jobs
    config_keys: int  # configuration keys the user must set or generate


def setup_counts(guide: SetupGuide) -> SetupCounts:
    """The counts of one guide, from its lists."""
    return SetupCounts(
        services=len(guide.services),
        containers=sum(s.replicas for s in guide.services),
        essential_services=sum(1 for s in guide.services if not s.optional),
        oneshots=len(guide.oneshots),
        config_keys=len(guide.required_config),
    )
