"""`make demo` end to end: graph, SAR, three ads and the report, then a second run reuses them."""

import json

import pytest

from kdcvg.demo.run import DEMO_ADS, main
from kdcvg.media import video


@pytest.mark.slow
def test_demo_runs_end_to_end_and_reuses_what_it_built(tmp_path, capsys):
    db, out = tmp_path / ".kdcvg" / "ackb", tmp_path / "out"
    assert main(["--db", str(db), "--out", str(out)]) == 0
    first = capsys.readouterr().out
    assert "training SAR" in first and f"open {out.resolve() / 'report.html'}" in first
    for product, points in DEMO_ADS:
        info = video.probe(out / f"{product}.mp4")
        assert (info.width, info.height) == (720, 1280) and info.duration_s == pytest.approx(6.0, abs=0.05)
        sidecar = json.loads((out / f"{product}.json").read_text())
        assert sidecar["references"]["source"] == "sar"
        assert len(sidecar["scenes"]) == len(points) and all(s["references"] for s in sidecar["scenes"])
    page = (out / "report.html").read_text()
    assert all(f"{product}.mp4" in page for product, _ in DEMO_ADS)

    assert main(["--db", str(db), "--out", str(out)]) == 0
    assert "reusing the SAR model" in capsys.readouterr().out
