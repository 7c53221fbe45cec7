"""python3 scripts/benchlib {run|table} ...  (or python3 -m benchlib from scripts/)"""

import os
import sys

if not __package__:  # run as a directory: make "benchlib" importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchlib import run, table  # noqa: E402


def main(argv):
    cmds = {"run": run.main, "table": table.main}
    if not argv or argv[0] not in cmds:
        print("usage: benchlib {run|table} ...  (scripts/bench.sh --help)", file=sys.stderr)
        return 2
    return cmds[argv[0]](argv[1:])


sys.exit(main(sys.argv[1:]))
