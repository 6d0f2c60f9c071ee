"""One exception type whose message is the single line the CLI prints."""


class BenchError(Exception):
    """A failure the user can act on; str(err) is one line naming the cause."""


class ServiceDied(BenchError):
    """A service of the stack exited on its own (neither the harness nor a fault stopped it)."""

    def __init__(self, service: str, exit_code: int | None, last_line: str, how: str = "died"):
        self.service, self.exit_code, self.last_line = service, exit_code, last_line
        super().__init__(f"{service} {how} with exit code {exit_code}; last log line: {last_line!r}")


class RunInterrupted(BenchError):
    """Ctrl-C or SIGTERM arrived mid-run; what was measured so far is kept."""


def field_path(loc: tuple, prefix: str = "") -> str:
    """A pydantic error location as a dotted path; quoted when a key holds a line break or a tab, which
    must not break the one line it goes into."""
    key = prefix + (".".join(str(p) for p in loc) or "(top level)")
    return repr(key) if any(ch.isspace() and ch != " " for ch in key) else key


def invalid(source: str, err, prefix: str = "") -> BenchError:
    """A pydantic ValidationError as one line naming the file and the field (the first error)."""
    first = err.errors()[0]
    if first["type"] == "extra_forbidden":
        key = prefix + (".".join(str(p) for p in first["loc"]) or "(top level)")
        return BenchError(f"{source}: unknown key {key!r}")
    key = field_path(first["loc"], prefix)
    return BenchError(f"{source}: {key}: {' '.join(first['msg'].split())}")


def malformed_yaml(source: str, err) -> BenchError:
    """A yaml.YAMLError as one line: where (when PyYAML knows) and what."""
    mark = getattr(err, "problem_mark", None)
    where = f" line {mark.line + 1}" if mark is not None else ""
    problem = getattr(err, "problem", None) or str(err)
    return BenchError(f"{source}:{where} malformed YAML: {' '.join(str(problem).split())}")
