"""Every YAML file the harness reads (workloads, platform.yaml, stack files, claims, published
studies, external configs) goes through load_yaml_model: one wording for an unreadable file,
malformed YAML, a document that is not a mapping, and a field that fails validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.model.errors import BenchError, invalid, malformed_yaml

M = TypeVar("M", bound=BaseModel)

# libyaml's loader where PyYAML was built with it (ten times faster on the claims file).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml_mapping(
    path: Path | None, what: str, text: str | None = None, source: str | None = None, empty_ok: bool = False
) -> dict[str, Any]:
    """The YAML mapping in `path` (or in `text`, from `source`); BenchError in one line otherwise.
    `what` names the kind of file in the message ("a workload", "a platform.yaml")."""
    shown = source or str(path)
    if text is None:
        try:
            text = Path(path).read_text()  # type: ignore[arg-type]
        except OSError as err:
            raise BenchError(f"{shown}: cannot read: {err.strerror or err}") from None
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as err:
        raise malformed_yaml(shown, err) from None
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        raise BenchError(f"{shown}: {what} must be a YAML mapping")
    return data


def validate_model(data: Any, model: type[M], source: str, prefix: str = "") -> M:
    """`data` as `model`; a validation error as one line naming the source and the field."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise invalid(source, err, prefix=prefix) from None


def load_yaml_model(path: Path, model: type[M], what: str, source: str | None = None, empty_ok: bool = False) -> M:
    """The YAML file at `path` validated as `model`, every problem one line naming the file."""
    shown = source or str(path)
    return validate_model(read_yaml_mapping(path, what, source=shown, empty_ok=empty_ok), model, shown)
