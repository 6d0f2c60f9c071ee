"""The command line at 80 columns, through the real `bench` on the committed results: tables that fit
and never cut an id, summaries first, options checked before any work, a closed pipe that is no error,
and the claims' cache, whose answer is the one computed afresh."""

import json
import os
import re
import subprocess

import pytest

from harness.cli import app as cli_app
from harness.cli import claims_cache, claims_view
from harness.model import spec

from .conftest import BENCH, REPO, bench
from .test_compare import write_chain_run

COMMITTED = REPO / "results"


def at_80(*args: str, results, state=None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "80", "LINES": "24", "BENCH_RESULTS_DIR": str(results)}
    env["BENCH_STATE_DIR"] = str(state or results / ".state")
    return subprocess.run([*BENCH, *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=600, **kw)


def assert_fits(text: str, width: int = 80) -> None:
    wide = [line for line in text.splitlines() if len(line.rstrip()) > width]
    assert not wide, wide
    assert "…" not in text, "a cell was truncated"


@pytest.fixture(scope="module")
def claims_cold(tmp_path_factory):
    """`bench claims --format json` on the committed results with an empty cache: computed, then kept."""
    state = tmp_path_factory.mktemp("state")
    done = at_80("claims", "--format", "json", results=COMMITTED, state=state)
    assert done.returncode == 0, done.stderr
    return state, json.loads(done.stdout)


def test_the_cached_verdicts_are_the_computed_ones(claims_cold):
    state, cold = claims_cold
    assert list((state / "cache").glob("claims-*.json")), "the verdicts were kept"
    done = at_80("claims", "--format", "json", results=COMMITTED, state=state)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == cold  # every figure, interval and text alike


def test_claims_print_the_summary_first_and_fit_80_columns(claims_cold):
    state, cold = claims_cold
    done = at_80("claims", results=COMMITTED, state=state)
    assert done.returncode == 0, done.stderr
    assert re.match(r"\d+ claims in the document, \d+ measurable", done.stdout)
    assert_fits(done.stdout)
    for claim in cold["claims"]:
        if claim["measurable"]:  # every id whole on its own row
            assert re.search(rf"^ {re.escape(claim['id'])}\s", done.stdout, re.M), claim["id"]
    long = at_80("claims", "--long", results=COMMITTED, state=state)
    assert long.returncode == 0 and long.stdout.startswith(done.stdout.splitlines()[0])
    assert_fits(long.stdout)
    one = next(c for c in cold["claims"] if c["missing"] and "`make bench" in c["missing"])
    shown = at_80("claims", one["id"], results=COMMITTED, state=state)
    assert shown.returncode == 0 and shown.stdout.startswith(one["id"])
    assert " ".join(one["missing"].split()) in " ".join(shown.stdout.replace("  missing", "").split())


def test_the_cache_is_hit_while_nothing_changes_and_missed_when_a_run_does(tmp_path):
    write_chain_run(tmp_path / "results")
    results, state = tmp_path / "results", tmp_path / "state"
    first, cached = claims_cache.verdicts(results, None, state=state)
    assert not cached
    again, cached = claims_cache.verdicts(results, None, state=state)
    assert cached and again == first
    run_json = next(results.glob("*/*/run.json"))
    st = run_json.stat()
    os.utime(run_json, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert not claims_cache.verdicts(results, None, state=state)[1], "a changed run is evaluated again"
    assert not claims_cache.verdicts(results, None, use_cache=False, state=state)[1]


def test_what_the_fast_path_names_matches_what_it_stands_for():
    """Names the CLI keeps so that a cached answer needs no import of the claims or the run ledger."""
    from harness.claims import ClaimResult
    from harness.claims.model import CLAIMS_FILE
    from harness.model.paths import STATE_DIR
    from harness.run.ledger import LEDGER_DIR_NAME

    assert list(claims_view.ClaimRow.model_fields)[: len(ClaimResult.model_fields)] == list(ClaimResult.model_fields)
    assert claims_cache.DEFAULT_CLAIMS == CLAIMS_FILE
    assert cli_app.LEDGERS == STATE_DIR / LEDGER_DIR_NAME


def test_options_are_checked_before_any_work(tmp_path):
    done = at_80("claims", "--format", "yaml", "--results", str(tmp_path / "nope"), results=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.strip().splitlines()  # about the format, not the missing folder: nothing was read
    assert line.startswith("error: Invalid value for '--format'") and "'yaml' is not one of" in line
    unknown = at_80("claims", "no-such-claim", results=tmp_path)
    assert unknown.returncode == 1 and unknown.stderr.strip() == "error: unknown claim 'no-such-claim'"


def test_a_closed_pipe_is_not_an_error(tmp_path):
    env = {**os.environ, "COLUMNS": "80", "BENCH_RESULTS_DIR": str(tmp_path), "BENCH_STATE_DIR": str(tmp_path)}
    proc = subprocess.Popen([*BENCH, "list", "--long"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    assert proc.wait(timeout=120) == 0
    assert proc.stderr.read() == b""


def test_list_is_compact_and_names_every_workload_whole(tmp_path):
    done = at_80("list", results=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_fits(done.stdout)
    assert len(done.stdout.splitlines()) <= 40
    names = set(re.findall(r"[a-z0-9][a-z0-9-]+", done.stdout))
    assert set(spec.available()) <= names
    long = at_80("list", "--long", results=tmp_path)
    assert long.returncode == 0 and spec.load("idle-60s").description.split()[0] in long.stdout
    assert_fits(long.stdout)


def test_doctor_says_each_cause_once_and_its_exit_code_means_cannot_run(tmp_path):
    done = at_80("doctor", results=tmp_path)
    assert_fits(done.stdout)
    causes = re.findall(r"^\[\d+\] (.*)", done.stdout, re.M)
    assert len(causes) == len(set(causes))
    assert done.stdout.count("no Docker engine answers") <= 1
    assert done.returncode == (1 if "cannot run here:" in done.stdout else 0), done.stdout
    assert "Exit 0 when every platform asked for can run" in at_80("doctor", "--help", results=tmp_path).stdout
    unknown = bench("doctor", "dagster", results=tmp_path)
    assert unknown.returncode == 1 and "unknown platform 'dagster'" in unknown.stderr
