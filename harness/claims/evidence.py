"""What a verdict rests on, as data: `bench claims --format json` gives it under `evidence`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Evidence(BaseModel):
    """The figure behind a verdict and the statistics that decided it; `text` says it in words."""

    model_config = ConfigDict(frozen=True)

    text: str = ""
    n: int | None = None  # independent runs (experiments, for a count) behind the figure
    statistic: str | None = None  # what `value` is
    value: float | None = None
    interval: tuple[float, float] | None = None  # 95%
    interval_method: str | None = None  # bootstrap over runs, or exact binomial
    threshold: float | None = None
    threshold_source: str | None = None  # "seed: ...", "vendor: ...", "operationalisation: ..."
    p_values: dict[str, float] = Field(default_factory=dict)  # an ordering: Mann-Whitney U per pair
    conditions: dict[str, str] = Field(default_factory=dict)  # cores, memory, stack, state
    decides: str = ""  # inconclusive: what would decide it
    parts: list[Evidence] = Field(default_factory=list)  # a claim about several platforms: one each

    def brief(self) -> str:
        """n and the interval in a few words, for tables: 'n=5, 95% [1.2, 3.4]'."""
        if self.n is None:
            return ""
        if self.interval is None:
            return f"n={self.n}"
        lo, hi = self.interval
        return f"n={self.n}, 95% [{_num(lo)}, {_num(hi)}]"


def _num(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
