"""One exception type whose message is the single line the CLI prints."""


class BenchError(Exception):
    """A failure the user can act on; str(err) is one line naming the cause."""


class RunInterrupted(BenchError):
    """Ctrl-C or SIGTERM arrived mid-run; what was measured so far is kept."""
