# The README's two commands: `make bench` and `make test`.
PLATFORM ?=
WORKLOAD ?=
VARIANT ?=
BACKEND ?=
UV ?= $(shell command -v uv 2>/dev/null || echo .venv-tools/bin/uv)
BENCH = .venv/bin/bench

.PHONY: install bench readme docs docs-figures lint test test-unit test-integration harness-bench chaos faults evidence ceiling claims-ci report doctor clean

.venv-tools/bin/uv:
	python3 -m venv .venv-tools && .venv-tools/bin/pip install --quiet uv

install: .venv/.installed
.venv/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	touch $@

# PLATFORM and WORKLOAD: one cell. PLATFORM alone: every default workload on it. Neither: every
# runnable platform. BACKEND: auto (default) | native | compose | external; VARIANT: a native variant.
bench: install
ifneq ($(WORKLOAD),)
	$(if $(PLATFORM),,$(error WORKLOAD needs PLATFORM))
	$(BENCH) run $(PLATFORM) $(WORKLOAD) $(if $(VARIANT),--variant $(VARIANT)) $(if $(BACKEND),--backend $(BACKEND))
	$(BENCH) report
else
	$(BENCH) suite $(if $(PLATFORM),--platform $(PLATFORM)) $(if $(VARIANT),--variant $(VARIANT)) $(if $(BACKEND),--backend $(BACKEND))
endif

# -r: why each test was skipped (s), then the failed and errored tests (fE) last, where a failing run ends.
# One -r only: pytest keeps the last of several.
PYTEST = .venv/bin/pytest -q -rsfE

# ruff (lint and format, pyproject.toml) and import-linter (the layers in pyproject.toml): seconds.
lint: install
	.venv/bin/ruff check harness tests
	.venv/bin/ruff format --check harness tests
	.venv/bin/lint-imports --no-cache

test: lint docs
	$(PYTEST)

test-unit: lint
	$(PYTEST) -m "not integration"

test-integration: install
	$(PYTEST) -m integration

# Figures for the harness's own overhead: the null platform, and the sampler over a 31-process stack
# (a benchmark, not a test).
harness-bench: install
	.venv/bin/python -m harness.tools.selfbench

# 50 runs interrupted at random points (signals, a killed service, a server never ready, a port taken,
# the harness killed outright); prints what each left behind (goal: nothing). A benchmark, not a test.
CHAOS_RUNS ?= 50
chaos: install
	.venv/bin/python -m harness.tools.chaos $(CHAOS_RUNS)

# The fault campaign (figures, not a test): every fault-* workload on every platform that runs natively here,
# on the variant that has the service each fault targets, then the fault table. PLATFORM=P for one;
# FAULTS_ARGS=--skip-done resumes a campaign. Over an hour on 2 cores.
FAULTS_ARGS ?=
faults: install
	$(BENCH) faults $(if $(PLATFORM),--platform $(PLATFORM)) $(FAULTS_ARGS)

# The evidence behind the claims' verdicts (figures, not a test): every cell a measurable claim in
# claims/claims.yaml needs, on every platform that runs natively here, run until it has 5 complete runs
# (a fault cell: 3 fault experiments), counting what results/ holds already, so a stopped campaign resumes
# where it stopped (harness/campaign/evidence.py); then the report. Commit results/ afterwards.
# EVIDENCE_ARGS: --dry-run (the plan and its cost), --all-faults (every fault workload on every platform,
# the fault table's matrix), --min-runs N, --workload W, --no-skip-done. What it would run and cost here:
# `bench evidence --dry-run` (estimated from the durations of the committed runs).
EVIDENCE_ARGS ?=
evidence: install
	$(BENCH) evidence $(if $(PLATFORM),--platform $(PLATFORM)) $(EVIDENCE_ARGS)

# The load generator's own ceiling against the null server (figures, not a test): the highest rate
# per Locust worker process with send lag p99 < 1 ms. Goal >= 10,000/s. LOAD_WORKERS=N for more.
LOAD_WORKERS ?= 1
ceiling: install
	.venv/bin/python -m harness.load.ceiling --workers $(LOAD_WORKERS)

# The seed document's claims reproduced at small scale (what .ci/run does after the tests, there within a
# 150 s budget): short runs of the workloads the claims name on the native seed platforms into
# results/_scratch/ci, then `bench claims` and the gate against results/ (harness/report/gate.py: a flipped
# verdict or a figure moved significantly beyond CLAIMS_CI_TOLERANCE fails). Here every cell runs (over
# 13 minutes on 2 cores).
CLAIMS_CI_BUDGET_S ?= 3600
claims-ci: install
	CLAIMS_CI_BUDGET_S=$(CLAIMS_CI_BUDGET_S) .ci/reproduce-claims

report: install
	$(BENCH) report

# Every generated block of README.md and docs/ (counts, tables, platform pages) from results/,
# claims/claims.yaml, stacks/ and workloads/ (tests/test_docs_figures.py fails when one is stale).
docs-figures: install
	.venv/bin/python -m harness.tools.docs_figures
readme: docs-figures

# The docs site (mkdocs-material) into site/; --strict: a broken link or page fails the build.
docs: install
	NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet -d site

doctor: install
	$(BENCH) doctor

# Windmill from source (about 45 min cold on 2 cores, instant once cached): WINDMILL_SOURCE names a
# checkout at its release commit, WINDMILL_DEPS a folder of its git dependencies (stacks/windmill/README.md).
.PHONY: windmill
windmill: install
	$(if $(WINDMILL_SOURCE),,$(error set WINDMILL_SOURCE to a Windmill checkout (stacks/windmill/README.md)))
	$(BENCH) install windmill --source "$(WINDMILL_SOURCE)"

clean:
	rm -rf .venv .venv-tools .bench
