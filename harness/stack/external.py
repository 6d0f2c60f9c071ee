"""The external backend: a deployment someone else runs (Helm charts, a managed cloud, another host).

The harness starts only its own SDK workers and connects the adapter to the given endpoints.
Nothing about setup is measured. Resources are sampled only from Prometheus endpoints that
expose the standard process metrics (process_cpu_seconds_total, process_resident_memory_bytes).

Configuration, from a YAML file (--external-config) or the environment:
    endpoints: {api_url: ..., token: ...}     BENCH_EXTERNAL_API_URL=..., BENCH_EXTERNAL_TOKEN=...
    metrics: {server: http://.../metrics}      BENCH_EXTERNAL_METRICS_SERVER=...
The endpoint names are those of the platform's native stack (stacks/<platform>/native.yaml).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
from pydantic import BaseModel, ConfigDict, Field

from harness.model.errors import BenchError
from harness.model.yamlfile import load_yaml_model
from harness.stack.base import Artifacts, FaultUnsupported, Shape
from harness.stack.install import python_env
from harness.stack.native import HostStack

ENV_PREFIX = "BENCH_EXTERNAL_"
SOURCE = "prometheus"
SECRET_WORDS = ("token", "password", "secret", "key")  # endpoint names whose values are redacted
SCRAPE_TIMEOUT_S = 2.0
OPTIONAL_ENDPOINTS = {"metrics"}  # a native stack's own metrics URL; for external, see `metrics:`


class ExternalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoints: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, str] = Field(default_factory=dict)  # service name -> Prometheus text endpoint


def load_config(
    path: Path | None, required: list[str], platform: str, environ: dict[str, str] | None = None
) -> ExternalConfig:
    """The --external-config file (an empty one is no settings), then BENCH_EXTERNAL_* from the environment
    on top; every endpoint the platform needs must be named by one or the other."""
    environ = dict(os.environ if environ is None else environ)
    data: dict = {"endpoints": {}, "metrics": {}}
    if path is not None:
        data = load_yaml_model(
            Path(path), ExternalConfig, "an external config", source=f"external config {path}", empty_ok=True
        ).model_dump()
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX + "METRICS_"):
            data["metrics"][key.removeprefix(ENV_PREFIX + "METRICS_").lower()] = value
        elif key.startswith(ENV_PREFIX):
            data["endpoints"][key.removeprefix(ENV_PREFIX).lower()] = value
    missing = [k for k in required if k not in OPTIONAL_ENDPOINTS and k not in data["endpoints"]]
    if missing:
        hint = ", ".join(ENV_PREFIX + k.upper() for k in missing)
        raise BenchError(
            f"external {platform} needs endpoint(s) {', '.join(missing)}: set {hint} "
            f"or list them under endpoints: in --external-config"
        )
    return ExternalConfig.model_validate(data)


def parse_process_metrics(text: str) -> tuple[float | None, int | None]:
    """(process CPU seconds, resident bytes) from a Prometheus text exposition, summed over series."""
    from prometheus_client.parser import text_string_to_metric_families  # lazy: the SDK

    cpu = rss = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "process_cpu_seconds_total":
                cpu = (cpu or 0.0) + sample.value
            elif sample.name == "process_resident_memory_bytes":
                rss = (rss or 0) + int(sample.value)
    return cpu, rss


class MetricsSampler:
    """Scrapes each metrics endpoint about once a second into resource rows."""

    def __init__(self, endpoints: dict[str, str], every_s: float = 1.0):
        self.endpoints, self.every_s = endpoints, every_s
        self.phase = "setup"
        self.rows: list[dict] = []
        self.errors: dict[str, str] = {}
        self._stop = threading.Event()
        self._last: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def set_phase(self, phase: str) -> None:
        self.phase = phase

    def start(self) -> None:
        threading.Thread(target=self._loop, name="metrics-scraper", daemon=True).start()

    def scrape_once(self) -> None:
        for service, url in self.endpoints.items():
            try:  # raise_for_status: an error answer is no exposition (urlopen raised on it too)
                answer = httpx.get(url, timeout=SCRAPE_TIMEOUT_S, follow_redirects=True).raise_for_status()
                cpu_s, rss = parse_process_metrics(answer.text)
            except Exception as err:  # an unreachable endpoint loses samples, not the run
                self.errors[service] = str(err)[:200]
                continue
            if rss is None and cpu_s is None:
                self.errors[service] = "no process_cpu_seconds_total or process_resident_memory_bytes"
                continue
            now = time.monotonic()
            cpu_pct = None
            if cpu_s is not None and service in self._last:
                t_prev, cpu_prev = self._last[service]
                cpu_pct = 100.0 * (cpu_s - cpu_prev) / (now - t_prev) if now > t_prev else None
            if cpu_s is not None:
                self._last[service] = (now, cpu_s)
            with self._lock:
                self.rows.append(
                    {
                        "t_ns": time.time_ns(),
                        "phase": self.phase,
                        "service": service,
                        "role": "server",
                        "cpu_pct": cpu_pct,
                        "rss_bytes": rss,
                        "pss_bytes": None,
                        "procs": None,
                        "source": SOURCE,
                    }
                )

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.scrape_once()
            self._stop.wait(self.every_s)

    def take_rows(self) -> list[dict]:
        with self._lock:
            return list(self.rows)

    def stop(self) -> None:
        self._stop.set()


class ExternalStack(HostStack):
    """Only the harness's workers run here; the deployment is someone else's: nothing of it is
    started, stopped, timed or signalled."""

    backend = "external"

    def __init__(self, config: ExternalConfig, worker_python: list[str], platform: str, run_dir: Path, ledger=None):
        super().__init__(run_dir, ledger=ledger)
        self.config, self.worker_python, self.platform = config, worker_python, platform

    def prepare(self) -> Iterator[str]:
        if self.worker_python:
            got = python_env(self.platform, self.worker_python)
            self._artifacts = Artifacts(
                env_bin=got.bin_dir,
                versions=dict(got.versions),
                cached=got.cached,
                first_install_s=got.first_install_s,
                footprint_bytes=got.footprint_bytes,
            )
            yield "install"

    def bring_up(self) -> Iterator[str]:
        return iter(())

    def endpoints(self) -> dict[str, str]:
        return dict(self.config.endpoints)

    def secrets(self) -> list[str]:
        return [v for k, v in self.config.endpoints.items() if any(word in k for word in SECRET_WORDS)]

    def shape(self) -> Shape:
        return Shape(
            "external",
            "external",
            "external",
            f"an external deployment; resources from {len(self.config.metrics)} metrics endpoint(s)",
        )

    def extra_samplers(self) -> list:
        return [MetricsSampler(self.config.metrics)] if self.config.metrics else []

    def _refuse(self, op: str, service: str):
        if self.group.find(service) is None:
            raise FaultUnsupported(
                f"the external backend cannot {op} {service!r}: the deployment is not run by "
                f"the harness (only its own workers can be: {', '.join(self.group.names()) or 'none'})"
            )

    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        self._refuse("kill", service)
        super().kill(service, sig)

    def start(self, service: str) -> None:
        self._refuse("start", service)
        super().start(service)

    def restart(self, service: str) -> None:
        self._refuse("restart", service)
        super().restart(service)

    def pause(self, service: str) -> None:
        self._refuse("pause", service)
        super().pause(service)

    def resume(self, service: str) -> None:
        self._refuse("resume", service)
        super().resume(service)
