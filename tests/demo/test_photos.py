"""The example catalogue's product photos, drawn by the project itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kdcvg.demo.photos import SHAPES, render_catalogue_photos, render_photo

CATALOGUE = Path(__file__).resolve().parents[2] / "examples" / "catalogue"


def test_every_catalogue_product_gets_a_photo_and_a_sidecar(tmp_path: Path) -> None:
    paths = render_catalogue_photos(CATALOGUE, tmp_path)
    products = [json.loads(line)["id"] for line in (CATALOGUE / "catalogue.jsonl").open()
                if json.loads(line)["type"] == "product"]
    assert len(products) == 20 and sorted(p.stem for p in paths) == sorted(products)
    sidecar = json.loads((tmp_path / "p-aura-serum.png.json").read_text())
    assert sidecar["product"] == "p-aura-serum" and sidecar["id"] == "photo-aura-serum"


def test_a_photo_is_deterministic_and_shows_the_product_colour() -> None:
    a = render_photo("bottle", (200, 30, 40), "Fizz", seed=3)
    assert a.shape == (480, 480, 3) and np.array_equal(a, render_photo("bottle", (200, 30, 40),
                                                                        "Fizz", seed=3))
    centre = a[300:340, 225:255].reshape(-1, 3).mean(axis=0)
    assert np.abs(centre - (200, 30, 40)).max() < 30
    assert all(render_photo(s, (90, 90, 90), "X").std() > 5 for s in SHAPES)
