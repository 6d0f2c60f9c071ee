"""Claims about how a platform is deployed are judged on the variant its vendor documents for
production (Hatchet with RabbitMQ) where that was measured, every other claim on the default variant."""

from harness import claims
from harness.claims.facts import Facts
from harness.store.cells import Cell, claim_cells, claim_series

from .record_factory import around, runs_of
from .test_claims import cell


def _runs(p50: float, variant: str, default: bool, production: bool):
    def build(value):
        r = cell("hatchet", "latency-probe", p50=value)
        shape = r.deployment.model_copy(
            update={"variant": variant, "default_variant": default, "vendor_production": production}
        )
        return r.model_copy(update={"deployment": shape, "run_id": f"h-{variant}"})

    return runs_of(build, around(p50))


def _cells():
    postgres = _runs(11.0, "postgres", True, False)
    rabbitmq = _runs(0.5, "rabbitmq", False, True)
    return {
        ("hatchet", "native postgres", "latency-probe"): Cell(postgres[0], None, postgres),
        ("hatchet", "native rabbitmq", "latency-probe"): Cell(rabbitmq[0], None, rabbitmq),
    }


def test_a_production_claim_is_judged_on_the_vendor_production_variant():
    cells = _cells()
    by_id = {r.id: r for r in claims.evaluate(claim_cells(cells), series=claim_series(cells))}
    v = by_id["hatchet-sub-ms"]  # needs.deployment: production
    assert v.verdict == "supported" and v.evidence.n == 5, v.evidence
    assert v.evidence.value < 1


def test_other_claims_keep_the_default_variant():
    cells = _cells()
    facts = Facts(claim_cells(cells), series=claim_series(cells))
    assert facts.find("hatchet", "latency-probe", "any").record.deployment.variant == "postgres"
    assert facts.find("hatchet", "latency-probe", "production").record.deployment.variant == "rabbitmq"


def test_without_a_production_run_a_production_claim_falls_back_to_the_default():
    cells = {k: c for k, c in _cells().items() if "rabbitmq" not in k[1]}
    facts = Facts(claim_cells(cells), series=claim_series(cells))
    assert facts.find("hatchet", "latency-probe", "production").record.deployment.variant == "postgres"


def test_the_command_that_would_add_a_run_names_the_variant_it_adds_to():
    cells = _cells()
    facts = Facts(claim_cells(cells), series=claim_series(cells))
    found = facts.find("hatchet", "latency-probe", "production")
    assert facts.command("hatchet", "latency-probe", found.record).endswith("WORKLOAD=latency-probe VARIANT=rabbitmq`")
    default = facts.find("hatchet", "latency-probe", "any").record
    assert "VARIANT" not in facts.command("hatchet", "latency-probe", default)
