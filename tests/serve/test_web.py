"""The web page of `kdcvg serve` (`kdcvg/serve/web.py`), served by uvicorn on loopback.

The store is the real embedded graph with the demo catalogue, its clips as real
(tiny) MP4 files and keyframe sheets, two selling points no clip expresses, and a
SAR model trained on it. Browser tests drive Debian's Chromium through Playwright;
the rest read the HTML over HTTP, as a browser with JavaScript off does.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from kdcvg.demo import catalog as cat
from tests.serve.kit import serving

GAP = "sp-web-gap"
GAP_TEXT = "Stays sharp through a year of daily chopping."
MARKUP = "sp-web-markup"
MARKUP_TEXT = '<img src=x onerror="alert(1)"> & <b>bold</b> claims'
KNOWN = "Razor-sharp Japanese steel slices tomatoes paper thin."


@dataclass
class Served:
    url: str
    service: Any
    store: Any
    footage: Path


def _load(store: Any, embedder: Any, footage: Path, home: Path) -> None:
    """The demo catalogue, each clip a real MP4 with a keyframe sheet, and two gaps."""
    from kdcvg.demo.build import catalogue_batch
    from kdcvg.graph.ingest import write_batch
    from kdcvg.media.video import write_jpeg, write_mp4

    footage.mkdir()
    (home / "thumbs").mkdir(parents=True)
    batch = catalogue_batch()
    for i, c in enumerate(cat.DEMO_CLIPS):
        frames = [np.full((32, 32, 3), (i * 7 + f * 20) % 255, np.uint8) for f in range(4)]
        write_mp4(footage / f"{c.id}.mp4", frames, 8.0)
        write_jpeg(home / "thumbs" / f"{c.id}.jpg", frames[0])
        batch.add_node("Clip", {"id": c.id, "uri": str(footage / f"{c.id}.mp4"),
                                "caption": c.caption, "product": c.product,
                                "thumb": str(home / "thumbs" / f"{c.id}.jpg")})
        batch.add_link("SHOWS", c.id, c.product)
        for sp, w in c.expresses:
            batch.add_link("EXPRESSES", c.id, sp, {"weight": w, "source": "curated"})
        for m in (c.motion, *c.creative):
            batch.add_link("HAS_MOTION", c.id, m, {"score": 1.0, "source": "curated"})
    for sp, text in ((GAP, GAP_TEXT), (MARKUP, MARKUP_TEXT)):
        batch.add_node("SellingPoint", {"id": sp, "text": text, "source": "curated"})
        batch.add_link("HAS_SELLING_POINT", "edge-knife", sp)
    write_batch(store, batch, embedder)


def _app(store: Any, public: bool = False) -> tuple[Any, Any]:
    from kdcvg.serve.app import create_app
    from kdcvg.serve.state import Service, load_or_create_token

    service = Service(store, load_or_create_token(store.home), public=public)
    return create_app(service), service


@pytest.fixture
def served(store: Any, embedder: Any, tmp_path: Path) -> Iterator[Served]:
    from kdcvg.retrieval.pipeline import train_sar

    store.home = tmp_path / "home"
    _load(store, embedder, tmp_path / "footage", store.home)
    train_sar(store, store.home, epochs=4, ppo_steps=0, rl="none")
    app, service = _app(store)
    with serving(app) as url:
        yield Served(url, service, store, tmp_path / "footage")


class _Page(HTMLParser):
    """The elements of a page, as (tag, attributes, text inside it) for the ones with a class."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str], list[str]]] = []
        self._open: list[list[str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        text: list[str] = []
        self.found.append((tag, {k: v or "" for k, v in attrs}, text))
        if tag not in ("img", "input", "link", "meta", "br"):
            self._open.append(text)

    def handle_endtag(self, tag: str) -> None:
        if self._open and tag not in ("img", "input", "link", "meta", "br"):
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for text in self._open:
            text.append(data)

    def all(self, cls: str) -> list[tuple[dict[str, str], str]]:
        return [(a, "".join(t).strip()) for _, a, t in self.found
                if cls in a.get("class", "").split()]


def _expected(served: Served, text: str, k: int) -> Any:
    return served.service.retriever().retrieve(text, None, None, k)


def _gaps(store: Any) -> list[str]:
    return [r["selling_point"] for r in store.analyst_query("coverage_gaps")]


def _links(store: Any, selling_point: str) -> list[dict[str, Any]]:
    return store.analyst_query("clips_for_selling_point", selling_point=selling_point)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("Chromium is not installed (`make chromium` installs Debian's; "
                    "apt-get install -y chromium)")
    pytest.importorskip("playwright", reason="playwright is not installed (dev extra)")
    return found


@contextmanager
def _browser(javascript: bool = True) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context(java_script_enabled=javascript)
            yield context.new_page()
        finally:
            browser.close()


@pytest.mark.slow
def test_search_in_chromium_shows_the_ranked_clips(served: Served) -> None:
    with _browser() as page:
        page.goto(served.url + "/")
        page.fill("input[name=q]", KNOWN)
        page.fill("input[name=k]", "5")
        page.click("#search button")
        page.wait_for_selector("#hits")
        hits = page.locator("li.hit")
        clips = [hits.nth(i).get_attribute("data-clip") for i in range(hits.count())]
        scores = page.locator("li.hit .score").all_inner_texts()
        motion = [hits.nth(i).locator(".motion").evaluate_all("els => els.map(e => e.dataset.pattern)")
                  for i in range(hits.count())]
        sources = page.locator("li.hit video").evaluate_all("els => els.map(e => e.getAttribute('src'))")
        # every clip plays: the browser loaded its file through /media/clip and read it
        page.wait_for_function("() => [...document.querySelectorAll('li.hit video')]"
                               ".every(v => v.readyState >= 2 && !v.error)", timeout=20_000)
        query = page.inner_text("p.query")
    expected = _expected(served, KNOWN, 5)
    assert clips == [h.clip_id for h in expected.hits] and len(clips) == 5
    assert scores == [f"{h.score:.4f}" for h in expected.hits]
    assert [float(s) for s in scores] == sorted((float(s) for s in scores), reverse=True)
    assert motion == [[m for m, _ in h.motion_patterns] for h in expected.hits]
    assert all(motion)
    assert sources == [f"/media/clip/{c}" for c in clips]
    assert "sp-edge-knife-1" in query  # the known selling point the text is


@pytest.mark.slow
def test_linking_a_suggested_clip_with_the_token_closes_the_gap(served: Served) -> None:
    token = served.service.token
    before = served.service.retriever()
    with _browser() as page:
        page.goto(served.url + "/gaps")
        gap = page.locator(f"li.gap[data-selling-point='{GAP}']")
        suggested = gap.locator("button[data-clip]").first.get_attribute("data-clip")
        page.fill("header input[name=token]", token)
        page.click("#token-enter")
        page.wait_for_selector("#token-state")
        assert page.url == served.url + "/gaps"
        gap.locator(f"button[data-clip='{suggested}']").click()
        page.wait_for_selector("#message")
        message = page.inner_text("#message")
        left = page.locator("li.gap").evaluate_all("els => els.map(e => e.dataset.sellingPoint)")
    assert message == f"linked {suggested} to {GAP}"
    assert GAP not in left and MARKUP in left
    assert GAP not in _gaps(served.store)
    assert [(r["clip"], r["weight"], r["source"]) for r in _links(served.store, GAP)] == [
        (suggested, 1.0, "curated")]
    unknown = httpx.post(served.url + "/gaps/link", data={
        "clip": "no-such-clip", "selling_point": MARKUP, "token": token})
    assert unknown.status_code == 400 and "nothing written" in unknown.text
    assert "no-such-clip" in unknown.text and _links(served.store, MARKUP) == []
    # the server noted the write: the next retrieval runs on a retriever of the new graph
    after = served.service.retriever()
    assert after is not before and after.graph_version != before.graph_version


@pytest.mark.slow
def test_linking_without_the_token_is_refused_and_writes_nothing(served: Served) -> None:
    with _browser() as page:
        page.goto(served.url + "/gaps")
        button = page.locator(f"li.gap[data-selling-point='{GAP}'] button[data-clip]").first
        with page.expect_response(lambda r: r.url.endswith("/gaps/link")) as answer:
            button.click()
        page.wait_for_selector("#error")
        error = page.inner_text("#error")
        assert answer.value.status == 403
    assert error.startswith("linking needs the write token")
    assert error.endswith("nothing was linked")
    assert served.service.token not in error
    wrong = httpx.post(served.url + "/gaps/link", data={
        "clip": "clip-edge-knife-slice", "selling_point": GAP, "token": "not-the-token"})
    assert wrong.status_code == 403 and "nothing was linked" in wrong.text
    assert _gaps(served.store) == [GAP, MARKUP]
    assert _links(served.store, GAP) == []


@pytest.mark.slow
def test_pages_read_with_javascript_off(served: Served) -> None:
    html = httpx.get(served.url + "/", params={"q": KNOWN, "k": "4"}).text
    page = _Page(html)
    expected = _expected(served, KNOWN, 4)
    assert [a["data-clip"] for a, _ in page.all("hit")] == [h.clip_id for h in expected.hits]
    assert [t for _, t in page.all("score")] == [f"{h.score:.4f}" for h in expected.hits]
    assert "<script" not in html
    with _browser(javascript=False) as browser:  # the same page in Chromium with JS off
        browser.goto(served.url + "/")
        browser.fill("input[name=q]", KNOWN)
        browser.fill("input[name=k]", "4")
        browser.click("#search button")
        browser.wait_for_selector("#hits")
        shown = browser.locator("li.hit").evaluate_all("els => els.map(e => e.dataset.clip)")
    assert shown == [h.clip_id for h in expected.hits]


@pytest.mark.slow
def test_every_value_is_escaped(served: Served) -> None:
    html = httpx.get(served.url + "/gaps").text
    texts = [t for _, t in _Page(html).all("gap-text")]
    assert texts == [GAP_TEXT, MARKUP_TEXT]
    assert '<img src=x onerror' not in html and "<b>bold" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; &lt;b&gt;bold" in html
    answer = httpx.get(served.url + "/", params={"q": MARKUP_TEXT})
    assert answer.status_code == 200 and "<b>bold" not in answer.text
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")


def test_a_product_lists_its_selling_points(store: Any, embedder: Any, tmp_path: Path) -> None:
    store.home = tmp_path / "home"
    _load(store, embedder, tmp_path / "footage", store.home)
    app, _ = _app(store)
    with serving(app) as url:
        html = httpx.get(url + "/", params={"product": "edge-knife"}).text
        no_model = httpx.get(url + "/", params={"q": KNOWN})
    links = [a["href"] for _, a, _ in _Page(html).found if a.get("href", "").startswith("/?q=")]
    assert f"/?q={KNOWN.replace(' ', '+')}&product=edge-knife" in links
    assert len(links) == len([s for s in cat.SELLING_POINTS if s.product == "edge-knife"]) + 2
    assert no_model.status_code == 400 and "no trained SAR model in" in no_model.text


def test_named_queries_as_forms(store: Any, embedder: Any, tmp_path: Path) -> None:
    from kdcvg.graph.store import analyst_queries

    store.home = tmp_path / "home"
    _load(store, embedder, tmp_path / "footage", store.home)
    app, _ = _app(store)
    with serving(app) as url:
        forms = _Page(httpx.get(url + "/queries").text)
        rows = httpx.get(url + "/queries/selling_points_of_product",
                         params={"product": "edge-knife"})
        limited = httpx.get(url + "/queries/similar_products",
                            params={"product": "edge-knife", "limit": "2"})
        internal = httpx.get(url + "/queries/sar_clip_texts")
        missing = httpx.get(url + "/queries/selling_points_of_product")
        bad = httpx.get(url + "/queries/similar_products",
                        params={"product": "edge-knife", "limit": "NaN"})
    named = [q.name for q in analyst_queries()]
    assert [a["id"] for _, a, _ in forms.found if a.get("class") == "query"] == [
        f"query-{n}" for n in named]
    inputs = {a["name"] for tag, a, _ in forms.found
              if tag == "input" and a["name"] not in ("token", "next")}
    assert inputs == {p for q in analyst_queries() for p in q.params}
    table = _Page(rows.text)
    cells = ["".join(t) for tag, _, t in table.found if tag == "td"]
    expected = store.analyst_query("selling_points_of_product", product="edge-knife")
    assert rows.status_code == 200 and cells[:4] == [str(v) for v in expected[0].values()]
    assert len(cells) == 4 * len(expected)
    assert limited.status_code == 200 and limited.text.count("<tr>") == 1 + 2
    assert internal.status_code == 400
    assert "query sar_clip_texts is internal to kdcvg, not an analyst query" in internal.text
    assert missing.status_code == 400 and "needs a value for: product" in missing.text
    assert bad.status_code == 400 and "limit: &#39;NaN&#39; is refused" in bad.text


def test_media_routes_send_only_the_files_the_graph_names(
        store: Any, embedder: Any, tmp_path: Path) -> None:
    from kdcvg.graph.ingest import write_batch
    from kdcvg.graph.records import IngestBatch

    store.home = tmp_path / "home"
    footage = tmp_path / "footage"
    _load(store, embedder, footage, store.home)
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"not for the web")
    (footage / "escape.mp4").symlink_to(secret)
    (footage / "notes.txt").write_text("text")
    batch = IngestBatch()
    for clip, uri, thumb in (("clip-escape", footage / "escape.mp4", None),
                             ("clip-text", footage / "notes.txt", None),
                             ("clip-url", "https://example.com/a.mp4", None),
                             ("clip-thumb-out", footage / "clip-edge-knife-slice.mp4", secret)):
        row = {"id": clip, "uri": str(uri), "caption": "crafted"}
        if thumb is not None:
            row["thumb"] = str(thumb)
        batch.add_node("Clip", row)
    write_batch(store, batch, embedder)
    app, _ = _app(store)
    with serving(app) as url:
        def get(path: str) -> httpx.Response:
            return httpx.get(url + path)

        video = get("/media/clip/clip-edge-knife-slice")
        sheet = get("/media/keyframe/clip-edge-knife-slice")
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        assert video.content == (footage / "clip-edge-knife-slice.mp4").read_bytes()
        assert sheet.status_code == 200 and sheet.headers["content-type"] == "image/jpeg"
        ranged = httpx.get(url + "/media/clip/clip-edge-knife-slice",
                           headers={"Range": "bytes=0-9"})
        assert ranged.status_code == 206 and len(ranged.content) == 10  # <video> seeks
        escape = get("/media/clip/clip-escape")
        assert escape.status_code == 403 and "leaves its folder" in escape.text
        assert "not a video or image file" in get("/media/clip/clip-text").text
        assert get("/media/clip/clip-url").text == (
            "clip 'clip-url': uri 'https://example.com/a.mp4' is not a local file")
        thumb_out = get("/media/keyframe/clip-thumb-out")
        assert thumb_out.status_code == 403 and "leaves its folder" in thumb_out.text
        assert get("/media/clip/no-such-clip").status_code == 404
        assert get("/media/clip/..%2Fsecret.mp4").status_code in (403, 404)
        assert get("/media/keyframe/clip-escape").status_code == 404


def _fake_batch(ads: Path) -> None:
    """A batch folder as `kdcvg generate batch` leaves it (files, sidecar, manifest, report)."""
    from kdcvg.generation.outputs import SIDECAR_SCHEMA

    folder = ads / "batch-1"
    folder.mkdir(parents=True)
    (folder / "ad-1.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (folder / "ad-1.jpg").write_bytes(b"\xff\xd8\xff")
    (folder / "ad-1.json").write_text(json.dumps({
        "schema": SIDECAR_SCHEMA, "video": "ad-1.mp4", "poster": "ad-1.jpg",
        "product": {"name": "Edge <Knife>"}, "job": {"format": "9:16", "backend": "compose"},
        "metrics": {"clip_score": 0.25, "motion_match": None}}))
    (folder / "manifest.json").write_text(json.dumps(
        {"schema": "kdcvg.batch/1", "jobs": {"ad-1": {"state": "done"},
                                             "ad-2": {"state": "failed", "error": "no clip"}}}))
    (folder / "report.html").write_text("<html><body>report</body></html>")
    (folder / "notes.txt").write_text("not an ad file")
    (ads / "..hidden").mkdir()


def test_ads_page_links_the_report_and_files(store: Any, tmp_path: Path) -> None:
    store.home = tmp_path / "home"
    app, service = _app(store)
    with serving(app) as url:
        empty = httpx.get(url + "/ads").text
        _fake_batch(service.ads_root)
        page = httpx.get(url + "/ads")
        report = httpx.get(url + "/ads/batch-1/report.html")
        mp4 = httpx.get(url + "/ads/batch-1/ad-1.mp4")
        text = httpx.get(url + "/ads/batch-1/notes.txt")
        out = httpx.get(url + "/ads/batch-1/..%2F..%2Fserve.token")
    assert 'id="no-ads"' in empty
    found = _Page(page.text)
    assert [a["data-job"] for _, a, _ in found.found if "data-job" in a] == ["batch-1"]
    hrefs = [a["href"] for _, a, _ in found.found if "href" in a]
    assert "/ads/batch-1/report.html" in hrefs and "/ads/batch-1/ad-1.mp4" in hrefs
    assert "Edge &lt;Knife&gt;" in page.text and "no clip" in page.text
    assert report.status_code == 200 and report.text.endswith("report</body></html>")
    assert report.headers["content-security-policy"].startswith("sandbox allow-scripts")
    assert mp4.status_code == 200 and mp4.content.endswith(b"ftypmp42")
    assert text.status_code == 403 and "is not an ad's file" in text.text
    assert out.status_code in (403, 404) and service.token not in out.text


def test_a_public_server_shows_nothing_without_the_token(store: Any, tmp_path: Path) -> None:
    store.home = tmp_path / "home"
    app, service = _app(store, public=True)
    with serving(app) as url:
        locked = httpx.get(url + "/queries")
        wrong = httpx.post(url + "/token", data={"token": "nope", "next": "/queries"})
        with httpx.Client(base_url=url) as client:
            entered = client.post("/token", data={"token": service.token,
                                                  "next": "//evil.example/x"})
            cookie = entered.headers["set-cookie"]
            opened = client.get("/queries")
    assert locked.status_code == 401 and "enter the write token" in locked.text
    assert "selling_points_of_product" not in locked.text
    assert wrong.status_code == 403 and "that is not this server&#39;s write token" in wrong.text
    assert entered.status_code == 303 and entered.headers["location"] == "/"
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert opened.status_code == 200 and "selling_points_of_product" in opened.text
