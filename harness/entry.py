"""The `bench` entry point, kept light: Ctrl-C or SIGTERM while the harness is still importing its
libraries (a second or more on a busy machine) ends with the same one line as during a run."""
import signal
import sys


def main() -> None:
    def terminate(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, terminate)   # as Ctrl-C: clean up, keep what was measured, exit 130
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    cli_main()
