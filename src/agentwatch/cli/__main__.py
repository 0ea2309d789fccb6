"""Run the `agentwatch` command line as `python -m agentwatch.cli`."""

from __future__ import annotations

import sys

from agentwatch.cli import main

if __name__ == "__main__":
    sys.exit(main())
