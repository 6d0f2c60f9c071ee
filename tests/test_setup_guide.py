"""Setup complexity from the vendors' own self-hosting guides: each platform.yaml's `setup_guide` records
what the guide starts and what it asks the user to set; every count is derived from those lists."""

import pytest
import yaml

from harness import platforms as registry
from harness.model.errors import BenchError
from harness.model.paths import STACKS_DIR
from harness.model.registry import setup_counts_by_platform, setup_guide
from harness.model.setup_guide import SetupCounts, SetupGuide, setup_counts

GUIDED = [*registry.seed_platforms(), "airflow"]

GOOD = "order: 5\nadapter: harness.platforms.null:NullAdapter\nkind: harness\nrepresents: null\nnative_missing: null\n"
GUIDE = """setup_guide:
  guide: {title: T, url: "https://docs.example.org/self-host", version: "1.0", source: "example/repo at abc123"}
  services:
    - {name: db, role: database}
    - {name: server, role: server, replicas: 2}
    - {name: proxy, role: proxy, optional: true}
  oneshots:
    - {name: migrate, does: applies the schema}
  required_config:
    - {key: DATABASE_URL, where: server, kind: connection, why: no default}
  also_set: [LOG_LEVEL]
"""


def _raw_block(name: str) -> dict:
    return yaml.safe_load((STACKS_DIR / name / "platform.yaml").read_text())["setup_guide"]


@pytest.mark.parametrize("name", GUIDED)
def test_every_seed_platform_and_the_reference_cite_their_vendors_guide(name):
    guide = registry.get(name).setup_guide
    assert guide is not None, f"stacks/{name}/platform.yaml: setup_guide missing"
    assert guide.guide.url.startswith("https://") and guide.guide.title and guide.guide.source
    assert len(guide.services) >= 1
    assert all(k.why for k in guide.required_config), "each key says why the user must set it"


@pytest.mark.parametrize("name", GUIDED)
def test_the_counts_are_derived_from_the_lists_never_written_beside_them(name):
    raw = _raw_block(name)
    written = [k for k in _keys(raw) if any(w in k.lower() for w in ("count", "total", "number"))]
    assert not written, f"stacks/{name}/platform.yaml: hand-written figures {written}"
    counts = setup_counts_by_platform()[name]
    assert counts == SetupCounts(
        services=len(raw["services"]),
        containers=sum(s.get("replicas", 1) for s in raw["services"]),
        essential_services=sum(1 for s in raw["services"] if not s.get("optional")),
        oneshots=len(raw.get("oneshots") or []),
        config_keys=len(raw.get("required_config") or []),
    )


def _keys(node) -> list[str]:
    if isinstance(node, dict):
        return [*node, *(k for v in node.values() for k in _keys(v))]
    if isinstance(node, list):
        return [k for v in node for k in _keys(v)]
    return []


def test_a_stand_in_inherits_the_guide_of_the_platform_it_represents():
    assert registry.get("temporal-dev").setup_guide is None, "it says nothing of its own"
    assert setup_guide("temporal-dev") is setup_guide("temporal") is not None
    assert setup_guide("null") is None and setup_guide("gone") is None
    assert list(setup_counts_by_platform()) == [n for n in registry.platforms() if n in GUIDED]


def test_setup_counts_is_a_pure_function_of_the_lists():
    guide = SetupGuide.model_validate(yaml.safe_load(GUIDE)["setup_guide"])
    assert setup_counts(guide) == SetupCounts(services=3, containers=4, essential_services=2, oneshots=1, config_keys=1)
    assert setup_counts(guide) == setup_counts(guide), "no state"


@pytest.mark.parametrize(
    "edit,expected",
    [
        (
            lambda t: t.replace("  also_set:", "  total_services: 3\n  also_set:"),
            "unknown key 'setup_guide.total_services'",
        ),
        (lambda t: t.replace("https://docs.example.org/self-host", "https://pypi.org/project/x"), "package registry"),
        (lambda t: t.replace("https://docs.example.org", "http://docs.example.org"), "not an https:// address"),
        (lambda t: t.replace("{name: proxy,", "{name: db,"), "services: db listed twice"),
        (lambda t: t.replace("[LOG_LEVEL]", "[DATABASE_URL]"), "also_set: DATABASE_URL is in required_config too"),
        (lambda t: t.replace("kind: connection", "kind: secret"), "required_config.0.kind"),
        (lambda t: t.replace("replicas: 2", "replicas: 0"), "replicas"),
        (lambda t: t.split("  services:")[0] + "  services: []\n", "services"),
    ],
)
def test_a_malformed_setup_guide_is_one_line_naming_file_and_field(tmp_path, edit, expected):
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "platform.yaml").write_text(GOOD + edit(GUIDE))
    with pytest.raises(BenchError) as err:
        registry.platforms(tmp_path)
    line = str(err.value)
    assert "\n" not in line and "lab/platform.yaml: " in line and "setup_guide" in line and expected in line, line


def test_only_a_platform_that_represents_itself_has_a_guide(tmp_path):
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "platform.yaml").write_text(GOOD + GUIDE)
    with pytest.raises(BenchError, match=r"lab/platform.yaml: setup_guide: only a platform that represents itself"):
        registry.platforms(tmp_path)
