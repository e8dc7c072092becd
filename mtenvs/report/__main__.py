"""``python -m mtenvs.report RUNS_DIR -o OUT``: the same as ``mtenvs report``."""

import argparse
import sys

from mtenvs.report.command import add_arguments, run_from_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtenvs.report", description="Runs to a Markdown report.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except (ValueError, OSError) as err:
        print(f"mtenvs report: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
