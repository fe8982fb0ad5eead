"""The ``stst`` executable's entry point.

Loading the toolkit takes seconds (torch); a Ctrl-C then must end as it does
later, in one line and exit status 1, not in a traceback of whatever module
was being imported. ``import stst_core`` is light, so this runs first.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from .cli import main as cli
    except KeyboardInterrupt:
        sys.stderr.write("\nAborted!\n")
        raise SystemExit(1) from None
    cli()
