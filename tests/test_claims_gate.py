"""The CI gate (harness/report/gate.py, run by .ci/reproduce-claims): it fails when a committed verdict flips
or a figure moves significantly beyond the tolerance, and passes on unchanged code. The proof runs the
real CI script on the null platform, once unchanged and once with the null adapter slowed by
BENCH_TEST_INJECT_DELAY_MS (50 ms before every task, on a path of about 0.1 ms)."""

import json
import os
import subprocess

import pytest
from typer.testing import CliRunner

from harness.claims import ClaimResult
from harness.claims.evidence import Evidence
from harness.model.paths import REPO_ROOT
from harness.platforms.null import INJECT_DELAY_ENV, INJECT_DELAY_SETTING
from harness.report.gate import FigureMove, GateResult, check_verdicts
from harness.run.driver import RunOptions, run
from harness.tools.claims_gate import app

from .conftest import small

SCRIPT = REPO_ROOT / ".ci" / "reproduce-claims"


def _claim(cid: str, verdict: str, value: float | None = None) -> ClaimResult:
    return ClaimResult(
        id=cid,
        platform="p",
        platforms=["p"],
        section="s",
        quote="q",
        kind="k",
        measurable=True,
        verdict=verdict,
        evidence=Evidence(value=value, n=2, decides="needs 3 more runs"),
    )


def test_a_flip_is_the_opposite_decided_verdict_only():
    old = {c: _claim(c, v) for c, v in [("a", "supported"), ("b", "contradicted"), ("c", "supported")]}
    old["d"] = _claim("d", "inconclusive")
    new = {"a": _claim("a", "contradicted", 3.0), "b": _claim("b", "inconclusive"), "d": _claim("d", "supported")}
    checks = {v.claim: v for v in check_verdicts(old, new)}
    assert set(checks) == {"a", "b", "c"}  # only what the committed results decide is gated
    assert checks["a"].flipped and checks["a"].value_remeasured == 3.0
    assert not checks["b"].flipped and "not a flip" in checks["b"].note and "needs 3 more runs" in checks["b"].note
    assert not checks["c"].flipped and checks["c"].remeasured == "absent" and "not re-measured" in checks["c"].note


def _move(a: float, b: float, p: float = 0.001, unit: str = "ms", worse: bool | None = None) -> FigureMove:
    return FigureMove(
        where="x",
        metric="m",
        unit=unit,
        committed=a,
        remeasured=b,
        change_pct=(b / a - 1) * 100,
        factor=max(a / b, b / a),
        p_value=p,
        n_committed=10,
        n_remeasured=10,
        worse=b > a if worse is None else worse,
    )


@pytest.mark.parametrize(
    "move,fails",
    [
        (_move(10, 16), True),  # +60%, significant
        (_move(10, 14), False),  # +40%: within 50%
        (_move(10, 16, p=0.2), False),  # not significant
        (_move(10, 6), False),  # x1.67 better: listed, never failing (a regression gate)
        (_move(0.02, 0.2), False),  # x10, but by 0.18 ms: below the 1 ms floor
        (_move(0.02, 0.2, unit="s"), True),  # 180 ms
        (_move(2.0, 0.9, unit="tasks/s", worse=True), True),  # no floor for a rate
    ],
)
def test_a_figure_fails_when_significant_beyond_tolerance_and_floor(move, fails):
    result = GateResult(committed="a", remeasured="b", tolerance_pct=50, moves=[move])
    assert result.failed is fails


def test_a_machine_measured_slower_widens_the_tolerance_by_its_slowdown_only():
    worse = _move(10, 25)  # x2.5 worse
    assert GateResult(committed="a", remeasured="b", tolerance_pct=50, moves=[worse]).failed
    slower = GateResult(committed="a", remeasured="b", tolerance_pct=50, moves=[worse], cpu_ratio=2.0)
    assert slower.allowed_factor() == 3.0 and not slower.failed  # the same fib body took twice as long
    faster = GateResult(committed="a", remeasured="b", tolerance_pct=50, moves=[worse], cpu_ratio=0.5)
    assert faster.allowed_factor() == 1.5 and faster.failed  # a faster machine excuses nothing


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The committed evidence: latency-probe on the null platform as CI runs it, with more repetitions."""
    assert not os.environ.get(INJECT_DELAY_ENV), f"{INJECT_DELAY_ENV} is set in the test's environment"
    root = tmp_path_factory.mktemp("committed")
    run(RunOptions("null", small("latency-probe", runs=3, warmup=1, repetitions=5), results_root=root))
    return root


def test_a_missing_or_empty_folder_is_one_line_and_exit_2(tmp_path, baseline):
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, says in [
        ([tmp_path / "missing", baseline], "committed results: "),
        ([baseline, tmp_path / "missing"], "re-measured results: "),
        ([baseline, empty], "holds no complete run"),
    ]:
        res = CliRunner().invoke(app, [str(a) for a in args])
        assert res.exit_code == 2, res.output
        assert says in res.output and "Traceback" not in res.output
        assert len(res.output.strip().splitlines()) == 1, res.output


def _reproduce(tmp_path, name: str, baseline, delay_ms: str | None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAIMS_CI_", "BENCH_"))}
    env.update(
        CLAIMS_CI_RESULTS=str(tmp_path / name),
        CLAIMS_CI_BASELINE=str(baseline),
        CLAIMS_CI_PLATFORMS="null",
        CLAIMS_CI_WORKLOADS="latency-probe",
        BENCH_STATE_DIR=str(tmp_path / ".state"),
    )
    if delay_ms is not None:
        env[INJECT_DELAY_ENV] = delay_ms
    proc = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=180)
    return proc.returncode, proc.stdout + proc.stderr, str(tmp_path / name)


def test_the_ci_gate_fails_on_an_injected_delay_and_passes_unchanged(tmp_path, baseline):
    rc, out, _ = _reproduce(tmp_path, "unchanged", baseline, None)
    assert rc == 0, out
    assert "claims gate passed" in out and "MOVED" not in out

    rc, out, folder = _reproduce(tmp_path, "slowed", baseline, "50")
    assert rc == 1, out
    moved = [line for line in out.splitlines() if line.startswith("MOVED null (in-process) latency-probe")]
    assert any("submit_to_first_start" in line for line in moved), out
    line = next(line for line in moved if "submit_to_first_start" in line)
    assert "%" in line and "p=" in line and f"{INJECT_DELAY_SETTING}=50" in line
    assert "claims gate FAILED" in out and "failing" in out
    # the delay is recorded with the run, as a non-default setting
    (run_json,) = (tmp_path / "slowed" / "null").glob("*/run.json")
    assert json.loads(run_json.read_text())["settings"][INJECT_DELAY_SETTING]["value"] == 50.0
