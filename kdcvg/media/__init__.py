"""Media: decoding and encoding video files, and measuring their motion (optical flow).

The lowest layer above the package root: it imports only `kdcvg.errors`,
`kdcvg.types`, `kdcvg.config` and third-party packages, so both the knowledge
graph (clip ingest) and generation use it.
"""
