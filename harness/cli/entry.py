"""The `bench` entry point, kept light: Ctrl-C or SIGTERM while the harness is still importing its
libraries (a second or more on a busy machine) ends with the same one line as during a run."""

import os
import signal
import sys


def main() -> None:
    # grpc's fork handlers, enabled when something imports grpc before hatchet-sdk can switch them off,
    # print "skipping fork() handlers" on every subprocess the harness starts; it execs at once and
    # never uses grpc in a child. hatchet-sdk's own default is the same.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)  # as Ctrl-C: clean up, keep what was measured, exit 130
    try:
        from harness.cli.app import main as cli_main  # lazy: Ctrl-C while importing gets one line
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    code: int | str | None = 0
    try:
        cli_main()
    except SystemExit as done:
        code = done.code
    except BrokenPipeError:  # the reader closed our output (`bench list | head`): it has what it wanted
        _drop_stdout()
        sys.exit(0)
    try:
        sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe is a warning and exit 120
    except BrokenPipeError:
        _drop_stdout()
    sys.exit(code)


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so nothing flushed later fails on the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
