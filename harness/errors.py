"""One exception type whose message is the single line the CLI prints."""


class BenchError(Exception):
    """A failure the user can act on; str(err) is one line naming the cause."""


class RunInterrupted(BenchError):
    """Ctrl-C or SIGTERM arrived mid-run; what was measured so far is kept."""


def invalid(source: str, err, prefix: str = "") -> BenchError:
    """A pydantic ValidationError as one line naming the file and the field (the first error)."""
    first = err.errors()[0]
    key = prefix + (".".join(str(p) for p in first["loc"]) or "(top level)")
    if first["type"] == "extra_forbidden":
        return BenchError(f"{source}: unknown key {key!r}")
    return BenchError(f"{source}: {key}: {first['msg']}")
