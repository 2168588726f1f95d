"""Download a clip or product photo named by URL in a manifest, once, into the store.

Only http and https. The download is bounded: at most `FetchLimits.max_bytes`
(the Content-Length is checked first, the bytes counted as they come), at most
`FetchLimits.timeout_s` per socket operation and `FetchLimits.total_s` in all; its
Content-Type must be an image or a video type, and the file must decode (a still
fully, a video's container probed) before it is kept. It goes to a temporary name
and is renamed when complete and checked, so a failure leaves nothing. The file is
named by the URL's hash: a second run finds it and downloads nothing.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from kdcvg.errors import KdcvgError, VideoError

CONTENT_TYPES = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp",
    "video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm",
    "video/x-matroska": ".mkv", "image/gif": ".gif",
}
CHUNK = 1 << 16


class FetchError(KdcvgError):
    """A URL could not be downloaded into the store."""


@dataclass(frozen=True)
class FetchLimits:
    """Bounds of one download.

    Args:
        max_bytes: the largest file accepted.
        timeout_s: seconds one connect or read may wait.
        total_s: seconds the whole download may take.
    """

    max_bytes: int = 200 * 2**20
    timeout_s: float = 20.0
    total_s: float = 120.0


DEFAULT_LIMITS = FetchLimits()


def target_for(url: str, folder: Path) -> Path | None:
    """The file a URL was downloaded to, if it was (any known suffix)."""
    stem = hashlib.sha256(url.encode()).hexdigest()[:24]
    for suffix in sorted(set(CONTENT_TYPES.values())):
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def _check_decodes(path: Path, suffix: str) -> None:
    from kdcvg.media import video

    if suffix in video.IMAGE_SUFFIXES:
        video.read_image(path, max_side=64)
    else:
        video.probe(path)


def fetch(url: str, folder: Path, limits: FetchLimits = DEFAULT_LIMITS) -> tuple[Path, bool]:
    """Download `url` into `folder` once.

    Returns:
        (the local file, True when it was downloaded now; False when it was there).

    Raises:
        FetchError: not http(s), unreachable, an HTTP error, a Content-Type that is not an
            image or video, over the size or time limit, or a file that does not decode.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise FetchError(f"{url!r}: only http:// and https:// URLs are downloaded")
    folder.mkdir(parents=True, exist_ok=True)
    found = target_for(url, folder)
    if found is not None:
        return found, False
    started = time.monotonic()
    request = urllib.request.Request(url, headers={"User-Agent": "kdcvg"})
    try:
        with urllib.request.urlopen(request, timeout=limits.timeout_s) as response:  # noqa: S310
            kind = (response.headers.get_content_type() or "").lower()
            if kind not in CONTENT_TYPES:
                raise FetchError(f"{url}: Content-Type {kind!r} is not an image or video type "
                                 f"({', '.join(sorted(CONTENT_TYPES))})")
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > limits.max_bytes:
                raise FetchError(f"{url}: {int(length)} bytes is over the {limits.max_bytes} "
                                 "byte limit")
            suffix = CONTENT_TYPES[kind]
            path = folder / f"{hashlib.sha256(url.encode()).hexdigest()[:24]}{suffix}"
            partial = path.with_name(f".{path.name}.partial")
            size = 0
            try:
                with partial.open("wb") as out:
                    while block := response.read(CHUNK):
                        size += len(block)
                        if size > limits.max_bytes:
                            raise FetchError(f"{url}: more than {limits.max_bytes} bytes; "
                                             "download stopped")
                        if time.monotonic() - started > limits.total_s:
                            raise FetchError(f"{url}: took more than {limits.total_s} s; "
                                             "download stopped")
                        out.write(block)
                if size == 0:
                    raise FetchError(f"{url}: the server sent no bytes")
                try:
                    _check_decodes(partial, suffix)
                except VideoError as e:
                    raise FetchError(f"{url}: downloaded {size} bytes that do not decode as "
                                     f"{kind} ({str(e).split(': ', 1)[-1]})") from e
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)
    except urllib.error.HTTPError as e:
        raise FetchError(f"{url}: the server answered HTTP {e.code} ({e.reason})") from e
    except urllib.error.URLError as e:
        raise FetchError(f"{url}: cannot be reached ({e.reason})") from e
    except TimeoutError as e:
        raise FetchError(f"{url}: no answer within {limits.timeout_s} s") from e
    except OSError as e:
        raise FetchError(f"{url}: download failed ({e})") from e
    return path, True
