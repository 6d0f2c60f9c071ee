"""The base of the run record's models (harness/model/record.py, harness/model/load_record.py) and the
latency and spread summaries both use."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


def _nan_to_none(value: Any) -> Any:
    # pandas hands back NaN for "not sampled" (PSS under compose); JSON has no NaN, so say None.
    return None if isinstance(value, float) and math.isnan(value) else value


OptionalFloat = Annotated[float | None, BeforeValidator(_nan_to_none)]


class _Model(BaseModel):
    # Records we write are strict: a misspelt field is a bug, not data. Assignments are validated
    # too, because the driver fills the record in as the run goes; JSON has no NaN, so neither do we.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


# -- summaries -----------------------------------------------------------------------------------
class LatencySummary(_Model):
    p50_ms: float
    p90_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    count: int
    negatives: int


class Spread(_Model):
    """Across repetitions; unstable when the coefficient of variation is too wide to compare."""

    median: float
    min: float
    max: float
    cv: float
    n: int
    unstable: bool
