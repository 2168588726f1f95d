"""One root exception and one subclass per layer.

Messages say what was wrong, the value received and what was expected. The CLI
prints `KdcvgError` messages as one line on stderr and exits non-zero.
"""


class KdcvgError(Exception):
    """Root of every error kdcvg raises on purpose."""


class StoreError(KdcvgError):
    """The graph server could not be started, reached or used."""


class ValidationError(KdcvgError):
    """Input failed validation; nothing was written.

    Args:
        problems: one line per problem, each naming file, line and field.
    """

    def __init__(self, problems: list[str], summary: str = "invalid input") -> None:
        self.problems = list(problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:50])
        more = f"\n  ... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(f"{summary}: {len(self.problems)} problem(s), nothing written\n{shown}{more}")


class QueryError(KdcvgError):
    """A named or ad-hoc Cypher query is unknown, malformed or not allowed."""


class VideoError(KdcvgError):
    """A video file could not be read, analysed or written."""


class RetrievalError(KdcvgError):
    """SAR cannot train, load or answer (no links, stale model, bad query)."""


class GenerationError(KdcvgError):
    """An ad could not be generated (bad job, missing reference, backend failure)."""


class NoReferenceError(GenerationError):
    """A selling point has no reference clip at all: the scene may fall back (stills, text).

    Args:
        message: the one-line reason.
        selling_point_id: the selling point's id.
        text: the selling point's text.
    """

    def __init__(self, message: str, selling_point_id: str | None = None, text: str = "") -> None:
        super().__init__(message)
        self.selling_point_id = selling_point_id
        self.text = text


class NotFoundError(KdcvgError):
    """An id names nothing: a job, a clip, a query, a file (the API answers 404)."""


class ConflictError(KdcvgError):
    """The request clashes with work under way, e.g. a second job on one folder (409)."""


class BusyError(KdcvgError):
    """The server cannot take more work now, e.g. its job queue is full (503)."""
