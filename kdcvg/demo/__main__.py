"""`python -m kdcvg.demo [--db PATH] [--out DIR]`: see `kdcvg.demo.run`."""

from kdcvg.demo.run import main
from kdcvg.graph.server import exit_process

exit_process(main())
