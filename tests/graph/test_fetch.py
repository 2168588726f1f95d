"""Downloads named in a manifest: bounded, checked, once; against a server on 127.0.0.1."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from kdcvg.graph.fetch import FetchError, FetchLimits, fetch


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)).save(
        buf, format="PNG")
    return buf.getvalue()


PNG = _png()
HITS: dict[str, int] = {}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        HITS[self.path] = HITS.get(self.path, 0) + 1
        routes = {
            "/photo.png": ("image/png", PNG, None),
            "/page.html": ("text/html", b"<html></html>", None),
            "/big.png": ("image/png", PNG, 10_000_000),
            "/garbage.png": ("image/png", b"\x89PNG not really" * 50, None),
            "/truncated.png": ("image/png", PNG[: len(PNG) // 2], None),
        }
        if self.path == "/slow.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(PNG[:64])
                self.wfile.flush()
                time.sleep(0.05)
            return
        if self.path not in routes:
            self.send_error(404)
            return
        kind, body, length = routes[self.path]
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(length or len(body)))
        self.end_headers()
        self.wfile.write(body[: length or len(body)])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_photo_is_downloaded_once(server: str, tmp_path: Path) -> None:
    path, new = fetch(f"{server}/photo.png", tmp_path)
    assert new and path.suffix == ".png" and path.read_bytes() == PNG
    again, new = fetch(f"{server}/photo.png", tmp_path)
    assert again == path and not new and HITS["/photo.png"] == 1


@pytest.mark.parametrize(("route", "limits", "message"), [
    ("/page.html", FetchLimits(), "Content-Type 'text/html' is not an image or video type"),
    ("/big.png", FetchLimits(max_bytes=1_000_000), "10000000 bytes is over the 1000000 byte"),
    ("/photo.png", FetchLimits(max_bytes=100), "bytes is over the 100 byte limit"),
    ("/slow.png", FetchLimits(max_bytes=100), "more than 100 bytes; download stopped"),
    ("/garbage.png", FetchLimits(), "do not decode as image/png"),
    ("/truncated.png", FetchLimits(), "do not decode as image/png"),
    ("/slow.png", FetchLimits(total_s=0.5), "took more than 0.5 s; download stopped"),
    ("/missing.png", FetchLimits(), "the server answered HTTP 404"),
])
def test_bad_downloads_fail_clearly_and_leave_nothing(
    server: str, tmp_path: Path, route: str, limits: FetchLimits, message: str
) -> None:
    with pytest.raises(FetchError, match=re.escape(message)):
        fetch(f"{server}{route}", tmp_path, limits)
    assert list(tmp_path.iterdir()) == []


def test_only_http_urls(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="only http:// and https:// URLs are downloaded"):
        fetch("file:///etc/passwd", tmp_path)
