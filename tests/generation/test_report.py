"""The HTML report: cards with player, selling points, references, metrics, provenance;
checked in headless Chromium that the videos load."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kdcvg.errors import GenerationError
from kdcvg.generation.base import AdJob
from kdcvg.generation.pipeline import PreparedJob, render_job
from kdcvg.generation.report import write_report
from kdcvg.retrieval.scenes import ProductInfo, Reference, Scene
from tests.generation.adkit import write_pan_clip, write_still_clip

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking"]


@pytest.fixture(scope="module")
def ads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with two rendered ads (9:16 and 1:1)."""
    root = tmp_path_factory.mktemp("report")
    pan, still = write_pan_clip(root / "pan.mp4"), write_still_clip(root / "still.mp4")
    scenes = (Scene("Pours <smoothly> & fast", "sp-1", (Reference("c-pan", str(pan), "pan", 0.9),
                                                       Reference("c-alt", str(still), "", 0.2))),
              Scene("Keeps cold", "sp-2", (Reference("c-still", str(still), "", 0.8,
                                                      (("zoom_in", 0.9),)),)))
    product = ProductInfo("p1", "AquaPure Bottle", "AquaPure")
    folder = root / "ads"
    folder.mkdir()
    for fmt, size in (("9:16", (180, 320)), ("1:1", (240, 240))):
        job = AdJob("p1", ("sp-1", "sp-2"), format=fmt, duration_s=6)
        render_job(PreparedJob(job, product, scenes, {"source": "curated"}),
                   folder / f"ad-{fmt.replace(':', 'x')}.mp4", size=size)
    return folder


def test_report_has_a_card_per_ad_with_everything_inline(ads: Path) -> None:
    path, count = write_report(ads)
    page = path.read_text()
    assert (path, count) == (ads / "report.html", 2)
    assert page.count('<section class="card"') == 2
    assert re.findall(r'<source src="([^"]+)"', page) == ["ad-1x1.mp4", "ad-9x16.mp4"]
    assert "Pours &lt;smoothly&gt; &amp; fast" in page  # selling points escaped
    assert page.count("data:image/jpeg;base64,") == 6  # 3 reference thumbnails per card
    assert "c-pan</b> (used)" in page and "score 0.900" in page and "zoom_in 0.90" in page
    assert "Dynamic degree" in page and "not computed" in page  # CLIP score without a model
    assert "&quot;seed&quot;: 0" in page  # provenance
    assert "http://" not in page and "https://" not in page  # nothing fetched from outside


def test_report_elsewhere_links_videos_relative_to_the_page(ads: Path, tmp_path: Path) -> None:
    path, _ = write_report(ads, tmp_path / "r.html")
    src = re.findall(r'<source src="([^"]+)"', path.read_text())[0]
    assert (tmp_path / src).resolve() == (ads / "ad-1x1.mp4").resolve()


def test_report_of_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(GenerationError, match="report folder .*nope does not exist"):
        write_report(tmp_path / "nope")


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("Chromium is not installed (`make test` installs Debian's chromium; "
                    "apt-get install -y chromium)")
    return found


def _media_state(chromium: str, page: Path) -> str:
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, "--virtual-time-budget=10000",
                          "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<body[^>]*data-media="([^"]*)"', dom)
    assert found, dom[:500]
    return found.group(1)


def test_report_videos_load_in_headless_chromium(ads: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    path, _ = write_report(ads)
    assert _media_state(chromium, path) == "ok 2/2"
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, *CHROMIUM_FLAGS, "--hide-scrollbars", "--window-size=1280,900",
                    "--virtual-time-budget=10000", f"--screenshot={shot}", path.as_uri()],
                   capture_output=True, timeout=120, check=True)
    from PIL import Image

    image = Image.open(shot)
    assert image.size == (1280, 900)
    assert len(set(image.convert("RGB").resize((64, 48)).getdata())) > 50  # not a blank page


def test_report_flags_broken_media_in_chromium(ads: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    broken = tmp_path / "ads"
    shutil.copytree(ads, broken)
    (broken / "ad-9x16.mp4").write_bytes(b"not a video")
    path, _ = write_report(broken)
    assert _media_state(chromium, path) == "broken 1/2"


def _poisoned(value: object) -> object:
    """Every string of a sidecar replaced by script, numbers left as they are."""
    evil = "<script>alert('x')</script>\"'><img src=x onerror=alert(1)>"
    if isinstance(value, str):
        return evil
    if isinstance(value, dict):
        return {k: _poisoned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_poisoned(v) for v in value]
    return value


def test_sidecar_values_cannot_inject_script(ads: Path, tmp_path: Path) -> None:
    import json

    folder = tmp_path / "ads"
    shutil.copytree(ads, folder)
    record = json.loads((folder / "ad-9x16.json").read_text())
    poisoned = _poisoned(record)
    poisoned["schema"] = record["schema"]  # still an ad sidecar, so the report reads it
    poisoned["video"] = "javascript:alert(1).mp4"  # file names cannot hold '/'
    poisoned["poster"] = "\"><img src=x onerror=alert(1)>.jpg"
    poisoned["output"]["size"] = ["<script>alert(1)</script>", "<script>"]  # the reported hole
    poisoned["scenes"][0]["references"][0]["score"] = "<script>alert(2)</script>"
    (folder / "ad-9x16.json").write_text(json.dumps(poisoned))
    broken = {"schema": record["schema"], "video": "<script>/x.mp4", "job": "<script>"}
    (folder / "ad-broken.json").write_text(json.dumps(broken))
    path, count = write_report(folder)
    page = path.read_text()
    assert count == 3
    assert page.lower().count("<script") == 1  # the page's own, and nothing from a sidecar
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;x&lt;script&gt;" in page  # the size, as text
    assert 'src="javascript%3Aalert%281%29.mp4"' in page  # a file name, never a scheme
    assert "data:image/jpeg;base64," in page  # kdcvg's own thumbnails still shown
    assert "ad-broken.json</h2><p class=\"muted\">not shown: the sidecar is malformed" in page
