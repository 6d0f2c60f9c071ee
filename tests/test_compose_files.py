"""The compose files: valid Compose Specification, pinned images, loopback ports, healthchecks,
per-run secrets. Checked statically: no Docker engine exists on our machines or in CI."""

import json
import re
from importlib import resources

import jsonschema
import pytest
import yaml

from harness.model.errors import BenchError
from harness.model.paths import REPO_ROOT, STACKS_DIR
from harness.platforms import platforms
from harness.stack import compose

PLATFORMS = [name for name, info in platforms().items() if info.has_compose]
VAR = re.compile(r"\$\{(BENCH_[A-Z0-9_]+)(?::?[?-][^}]*)?\}")


def _vendored_schema(name: str) -> dict:
    # check-jsonschema ships the Compose Specification's and GitHub's schemas, pinned with its release
    return json.loads((resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / name).read_text())


def _validator(name: str):
    schema = _vendored_schema(name)
    return jsonschema.validators.validator_for(schema)(schema)


def _doc(platform: str) -> dict:
    return yaml.safe_load((STACKS_DIR / platform / "compose.yaml").read_text())


@pytest.mark.parametrize("platform", PLATFORMS)
def test_compose_file_is_valid_compose_specification(platform):
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _validator("compose-spec.json").iter_errors(_doc(platform))
    ]
    assert not errors, errors


def test_the_schema_check_can_fail():
    doc = _doc("prefect")
    doc["services"]["prefect-server"]["imagee"] = "typo"
    doc["services"]["redis"]["ports"] = 6379
    assert len(list(_validator("compose-spec.json").iter_errors(doc))) >= 2


@pytest.mark.parametrize("platform", PLATFORMS)
def test_compose_file_follows_the_house_rules(platform):
    cdef = compose.load(platform)
    text = cdef.path.read_text()
    oneshots = cdef.oneshots()
    for name, svc in cdef.services.items():
        image = svc["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), f"{name}: {image} is not pinned"
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is not bound to loopback"
        if name not in oneshots:
            assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        env = svc.get("environment") or {}
        for key, value in env.items() if isinstance(env, dict) else []:
            if re.search(r"PASSWORD|SECRET|_PWD|_PASS$", key) and isinstance(value, str):
                assert "${BENCH_SECRET_" in value, f"{name}: {key} is not generated per run"
    used = {m.group(1) for m in VAR.finditer(text)}
    declared = (
        {compose.env_var("PORT", p) for p in cdef.bench.ports}
        | {compose.env_var("SECRET", s) for s in cdef.bench.secrets}
        | {"BENCH_RUN_ID", "BENCH_STAMPS_DIR"}
    )
    assert used <= declared, f"undeclared variables: {used - declared}"
    assert {compose.env_var("SECRET", s) for s in cdef.bench.secrets} <= used, "a declared secret is never used"
    assert cdef.bench.follows and (STACKS_DIR / platform / "README.md").is_file()


def test_a_compose_file_needs_services_and_a_valid_x_bench_block(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_STACKS_DIR", str(tmp_path))
    path = tmp_path / "p" / "compose.yaml"
    path.parent.mkdir()
    path.write_text("services: [a, b]\n")
    with pytest.raises(BenchError, match=rf"^{re.escape(str(path))}: a compose file needs a services mapping$"):
        compose.load("p")
    path.write_text("services: {a: {image: x:1}}\nx-bench: {follows: doc, roles: {a: 7}}\n")
    with pytest.raises(BenchError, match=r"compose.yaml: x-bench.roles.a: Input should be a valid string$"):
        compose.load("p")
    path.write_text("services: {a: {image: x:1}}\nx-bench: {follows: doc, roles: {b: server}}\n")
    with pytest.raises(BenchError, match=r"compose.yaml: x-bench names unknown services: b$"):
        compose.load("p")


def test_env_file_holds_fresh_secrets_and_is_private(tmp_path):
    from harness.stack.definition import RenderContext

    cdef = compose.load("hatchet")
    envs = []
    for i in range(2):
        ctx = RenderContext(f"run{i}", tmp_path, tmp_path)
        envs.append(compose.render_env(cdef, ctx, tmp_path / "stamps"))
    assert envs[0]["BENCH_SECRET_POSTGRES"] != envs[1]["BENCH_SECRET_POSTGRES"]
    assert envs[0]["BENCH_PORT_GRPC"] != envs[0]["BENCH_PORT_API"]
    path = compose.write_env_file(tmp_path / "compose.env", envs[0])
    assert path.stat().st_mode & 0o077 == 0
    assert f"BENCH_SECRET_ADMIN={envs[0]['BENCH_SECRET_ADMIN']}" in path.read_text()


def test_github_workflow_is_valid_and_runs_every_compose_platform():
    path = REPO_ROOT / ".github" / "workflows" / "bench-compose.yml"
    doc = yaml.safe_load(path.read_text())
    assert "on" in doc, 'quote "on": YAML 1.1 readers turn a bare on into true'
    errors = [e.message for e in _validator("github-workflows.json").iter_errors(doc)]
    assert not errors, errors
    assert doc["jobs"]["bench"]["needs"] == "platforms", "the matrix is derived (see tests/test_registry.py)"
    steps = " ".join(str(s.get("run", "")) for s in doc["jobs"]["bench"]["steps"])
    assert "make bench" in steps and "BACKEND=compose" in steps


@pytest.mark.parametrize("platform", PLATFORMS)
def test_tasks_run_in_containers_only_where_the_stamp_folder_is_mounted(platform):
    """An adapter without host-side workers runs task bodies inside the stack's containers, which
    then need the run's stamp folder at STAMPS_MOUNT, or every task would count as missing."""
    from harness.platforms import adapter_class
    from harness.platforms.base import STAMPS_MOUNT, Adapter

    mounts = {
        name: [v for v in svc.get("volumes", []) if isinstance(v, str) and v.startswith("${BENCH_STAMPS_DIR")]
        for name, svc in compose.load(platform).services.items()
    }
    mounted = {name for name, vols in mounts.items() if vols}
    assert all(v.endswith(":" + STAMPS_MOUNT) for vols in mounts.values() for v in vols)
    if adapter_class(platform).workers is Adapter.workers:  # no host-side workers
        assert mounted, f"{platform}: no service mounts the stamp folder at {STAMPS_MOUNT}"
