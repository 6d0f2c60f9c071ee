"""Where things live: the repository, its stacks/workloads/results folders, the artifact cache."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STACKS_DIR = REPO_ROOT / "stacks"
WORKLOADS_DIR = REPO_ROOT / "workloads"
RESULTS_DIR = Path(os.environ.get("BENCH_RESULTS_DIR", REPO_ROOT / "results"))
STATE_DIR = Path(os.environ.get("BENCH_STATE_DIR", REPO_ROOT / ".bench"))
# Installed platform artifacts, keyed by version, shared by every checkout on the machine.
CACHE_DIR = Path(os.environ.get("BENCH_CACHE_DIR", Path.home() / ".cache" / "orchestrator-bench"))
