"""`python -m kdcvg.demo [--db PATH] [--out DIR]`: see `kdcvg.demo.run`.

Ctrl-C and SIGTERM stop it as they stop any `kdcvg` command (see `kdcvg.interrupts`).
"""

import sys

from kdcvg import interrupts
from kdcvg.demo.run import main
from kdcvg.graph.server import exit_process

interrupts.install()
try:
    code = main()
except interrupts.Interrupted as stop:
    interrupts.ignore()
    print(f"kdcvg demo: {stop}: stopped; unfinished work was rolled back", file=sys.stderr)
    code = stop.exit_code
exit_process(code)
