"""The claims file: validated like workloads (one line naming the file and the field), and complete:
every claim of the seed document is a row, quoted exactly, and every not-measurable row says why."""

import re

import pytest

from harness.claims import model
from harness.model.errors import BenchError
from harness.model.paths import REPO_ROOT

SEED = REPO_ROOT.parent / "shared" / "seeds" / "operational-analysis.md"

GOOD = """
document: seed.md
reasons: {offering: a hosted offering}
planned_workloads: {fault-x: "a test scenario"}
claims:
- id: fast
  platforms: [hatchet]
  section: "4. Hatchet"
  quote: "fast"
  needs: {measures: [{metric: submit_to_first_start.p50_ms, workload: latency-probe}]}
  predicate: {kind: threshold, op: "<", value: 1, source: 'seed: "fast"'}
- {id: cloud, platforms: [hatchet], section: "4. Hatchet", quote: "cloud",
    predicate: {kind: not_measurable, reason: offering}}
"""


def parse(text: str) -> model.ClaimsFile:
    return model.parse(text, "claims.yaml")


def refused(text: str) -> str:
    with pytest.raises(BenchError) as err:
        parse(text)
    line = str(err.value)
    assert "\n" not in line and line.startswith("claims.yaml")
    return line


def test_a_good_file_loads():
    parsed = parse(GOOD)
    assert [c.id for c in parsed.claims] == ["fast", "cloud"]
    assert model.reason_text(parsed.claims[1], parsed) == "a hosted offering"


def test_malformed_yaml_names_the_line():
    assert refused("document: x\nclaims:\n  - {id: a\n  x: {\n").startswith("claims.yaml: line 4 malformed YAML")


def test_not_a_mapping():
    assert "must be a YAML mapping" in refused("- a\n- b\n")


def test_unknown_key_is_named_with_the_claims_id():
    assert (
        refused(GOOD.replace('  quote: "fast"', '  quote: "fast"\n  qoute: x'))
        == "claims.yaml: unknown key 'claims.fast.qoute'"
    )
    assert refused(GOOD + "extra: 1\n") == "claims.yaml: unknown key 'extra'"


def test_missing_field_is_named():
    line = refused(GOOD.replace('  section: "4. Hatchet"\n  quote: "fast"\n', '  quote: "fast"\n'))
    assert line == "claims.yaml: claims.fast.section: Field required"


def test_unknown_evaluator_kind():
    line = refused(GOOD.replace("kind: threshold", "kind: vibes"))
    assert "claims.fast.predicate" in line and "vibes" in line


def test_unknown_platform_workload_metric_and_duplicate_id():
    assert "claims.fast: unknown platform 'hatchett'" in refused(GOOD.replace("[hatchet]", "[hatchett]", 1))
    assert "unknown workload 'latency-prob'" in refused(
        GOOD.replace("workload: latency-probe", "workload: latency-prob")
    )
    assert "unknown metric 'p50'" in refused(GOOD.replace("submit_to_first_start.p50_ms", "p50"))
    assert "claims.cloud: id used twice" in refused(GOOD + GOOD[GOOD.index("- {id: cloud") :])


def test_a_baseline_or_ranked_platform_must_exist_or_be_planned():
    ratio = GOOD.replace('kind: threshold, op: "<", value: 1', "kind: ratio, baseline: nosuch, at_least: 13")
    assert "unknown platform 'nosuch'" in refused(ratio)
    assert parse(ratio.replace("planned_workloads:", "planned_platforms: {nosuch: later}\nplanned_workloads:"))
    ranking = GOOD.replace('kind: threshold, op: "<", value: 1', "kind: ranking, levels: {hatchet: 1, nosuch: 2}")
    assert "unknown platform 'nosuch'" in refused(ranking)


def test_each_kind_needs_what_it_evaluates():
    assert "needs needs.measures" in refused(
        GOOD.replace("  needs: {measures: [{metric: submit_to_first_start.p50_ms, workload: latency-probe}]}\n", "")
    )
    fault = GOOD.replace('kind: threshold, op: "<", value: 1', "kind: fault, expect: []")
    assert "needs needs.fault" in refused(fault)
    assert "unknown bravely" in refused(
        fault.replace("{measures:", "{fault: x, measures:").replace("expect: []", "behaviours: [bravely]")
    )
    assert "focus 'temporal' is not one of predicate.levels" in refused(
        GOOD.replace(
            'kind: threshold, op: "<", value: 1', "kind: ranking, focus: temporal, levels: {hatchet: 1, prefect: 2}"
        )
    )


def test_a_threshold_ratio_or_fault_predicate_states_its_source():
    assert refused(GOOD.replace(", source: 'seed: \"fast\"'", "")) == (
        "claims.yaml: claims.fast.predicate.threshold.source: Field required"
    )
    for bad in ("'seed:fast'", "'Seed: fast'", "'seed: '", "'measured: fast'", "'fast'"):
        line = refused(GOOD.replace("'seed: \"fast\"'", bad))
        assert line.startswith("claims.yaml: claims.fast.predicate.threshold.source: ") and "'seed: '" in line, bad
    for good in ("'vendor: Hatchet docs: Benchmarks'", "'operationalisation: ours, because'"):
        assert parse(GOOD.replace("'seed: \"fast\"'", good)).claims[0].predicate.source == good.strip("'")
    ratio = GOOD.replace(
        'kind: threshold, op: "<", value: 1, source', "kind: ratio, baseline: prefect, at_least: 13, x"
    )
    assert refused(ratio).startswith("claims.yaml: claims.fast.predicate.ratio.source: Field required")
    fault = GOOD.replace(
        "  needs: {measures: [{metric: submit_to_first_start.p50_ms, workload: latency-probe}]}\n"
        '  predicate: {kind: threshold, op: "<", value: 1, ',
        "  needs: {fault: x, measures: [{workload: fault-x}]}\n"
        '  predicate: {kind: fault, expect: [{metric: fault.tasks_lost, op: "==", value: 0}], ',
    )
    assert parse(fault).claims[0].predicate.min_share == 0.5
    assert parse(fault.replace("source:", "min_share: 0.9, source:")).claims[0].predicate.min_share == 0.9
    assert "claims.fast.predicate.fault.min_share" in refused(fault.replace("source:", "min_share: 1.5, source:"))
    assert (
        refused(fault.replace("source:", "sauce: 1, source:"))
        == "claims.yaml: unknown key 'claims.fast.predicate.fault.sauce'"
    )
    assert "claims.fast.predicate.fault.source: Field required" in refused(
        fault.replace(", source: 'seed: \"fast\"'", "")
    )


def test_a_ranking_needs_no_source_but_may_state_one():
    ranking = GOOD.replace(
        'kind: threshold, op: "<", value: 1, source', "kind: ranking, levels: {hatchet: 1, prefect: 2}, x"
    )
    assert parse(ranking.replace(", x: 'seed: \"fast\"'", "")).claims[0].predicate.source is None
    assert parse(ranking.replace(", x:", ", source:")).claims[0].predicate.source == 'seed: "fast"'
    assert "claims.fast.predicate.ranking.source: " in refused(ranking.replace("x: 'seed:", "source: 'seeds:"))


def test_a_not_measurable_row_needs_a_reason():
    assert "claims.cloud.predicate.not_measurable.reason: Field required" in refused(
        GOOD.replace(", reason: offering", "")
    )
    assert "neither a key of reasons nor a sentence" in refused(GOOD.replace("reason: offering", "reason: ofering"))
    assert "needs nothing measured" in refused(
        GOOD.replace("predicate: {kind: not_measurable", "needs: {fault: x}, predicate: {kind: not_measurable")
    )


# -- the real file ---------------------------------------------------------------------------------
def test_the_claims_file_loads_and_every_not_measurable_row_has_a_reason():
    parsed = model.load()
    unmeasurable = [c for c in parsed.claims if not c.measurable]
    assert unmeasurable and all(len(model.reason_text(c, parsed).split()) >= 5 for c in unmeasurable)
    assert sum(c.measurable for c in parsed.claims) >= 30


@pytest.mark.skipif(not SEED.is_file(), reason="the seed document is not beside this checkout")
def test_every_claim_of_the_seed_document_is_a_row_quoted_exactly():
    text = SEED.read_text().replace("**", "")
    parsed = model.load()
    quotes = {c.quote for c in parsed.claims}
    bullets = [line[2:].strip() for line in text.splitlines() if line.startswith("- ")]
    assert [b for b in bullets if b not in quotes] == []  # none dropped
    assert [q for q in quotes if q not in text] == []  # each word for word
    matrix = [
        line.strip("| ").split(" | ")[0]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("| Aspect")
    ]
    assert all(any(q.startswith(f"{aspect} |") for q in quotes) for aspect in matrix)
    headings = set(re.findall(r"^#+ (.+)$", text, re.M))
    assert all(part in headings for c in parsed.claims for part in c.section.split(" / "))


def test_every_deciding_predicate_of_the_real_file_states_its_source_and_a_seed_source_quotes_the_claim():
    """The seed's words a `seed: "..."` source quotes are the claim's own words (so, the seed's)."""
    claims = model.load().claims
    deciding = [c for c in claims if c.kind in ("threshold", "ratio", "fault")]
    assert len(deciding) >= 13 and all(c.predicate.source for c in deciding)
    for c in (c for c in claims if (getattr(c.predicate, "source", None) or "").startswith("seed: ")):
        words = re.findall(r'"([^"]+)"', c.predicate.source)
        assert words and all(w in c.quote for w in words), c.id


def test_every_fault_claim_names_the_scenario_of_each_workload_it_measures():
    """A workload whose scenario the claim does not name would never count (the fan-out kill did not)."""
    from harness.model import spec

    claims = model.load(REPO_ROOT / "claims" / "claims.yaml").claims
    for claim in (c for c in claims if c.kind == "fault"):
        for m in claim.needs.measures:
            scenario = spec.load(m.workload).fault.scenario
            assert scenario in claim.needs.fault_scenarios(), f"{claim.id}: {m.workload} is {scenario}"
