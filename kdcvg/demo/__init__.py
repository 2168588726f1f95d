"""The demo: a catalogue of products and clips the project renders itself, and the whole job.

`catalog` (pure data), `footage` (synthetic clips with known motion), `build`
(the demo ACKB), `run` (`python -m kdcvg.demo`, what `make demo` runs) and `cli`
(`kdcvg demo ...`). The top layer under the CLI: it uses graph, media,
retrieval and generation, and nothing in them uses it.
"""
