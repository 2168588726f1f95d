"""Re-ingesting an unchanged catalogue: embeddings computed once, unchanged rows not written.

Writes a synthetic 1,000-product catalogue (about 5,500 texts: descriptions, categories,
3 to 6 bullets a product, 80 % of products sharing one boilerplate bullet, as a real
marketplace export does), then times `kdcvg graph ingest` on it three times into a
fresh embedded database, as whole commands (process start included), and once more a
no-op command (`graph stats`) on the same database for the fixed cost of any command.
Usage: python bench/reingest.py [OUT_FOLDER]
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ADJ = ["compact", "durable", "lightweight", "premium", "portable", "wireless", "stainless",
       "ergonomic", "waterproof", "rechargeable", "eco-friendly", "adjustable"]
NOUN = ["blender", "kettle", "speaker", "lamp", "backpack", "bottle", "charger", "headphones",
        "mat", "organizer", "knife set", "toy figure", "phone case", "watch band", "serum", "mug"]
FEAT = ["keeps drinks cold for {n} hours", "charges fully in {n} minutes",
        "weighs only {n} grams", "fits in any bag", "comes with a {n}-year warranty",
        "has {n} speed settings", "is made from recycled materials", "cleans up in seconds",
        "works with all major phones", "lasts {n} days on one charge"]
FITS = "Make sure this fits by entering your model number."


def catalogue(path: Path, products: int = 1000, seed: int = 0) -> int:
    """Write the catalogue; returns how many texts it holds."""
    rng = random.Random(seed)
    cats = [f"category-{i}" for i in range(20)]
    lines = [{"type": "category", "name": c} for c in cats]
    for i in range(products):
        pid = f"p{i:04d}"
        lines.append({"type": "product", "id": pid,
                      "name": f"{rng.choice(ADJ).title()} {rng.choice(NOUN).title()} {i}",
                      "description": f"A {rng.choice(ADJ)} {rng.choice(NOUN)} that "
                                     f"{rng.choice(FEAT).format(n=rng.randint(2, 48))}.",
                      "category": rng.choice(cats)})
        for j in range(rng.randint(3, 6)):
            text = FITS if j == 0 and rng.random() < 0.8 else (
                f"This {rng.choice(NOUN)} {rng.choice(FEAT).format(n=rng.randint(2, 99))} and "
                f"{rng.choice(FEAT).format(n=rng.randint(2, 99))}.")
            lines.append({"type": "selling_point", "id": f"sp-{pid}-{j}", "product": pid,
                          "text": text})
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return sum(1 for r in lines if r["type"] != "category") + len(cats)


def timed(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kdcvg.cli", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    source = folder / "catalogue.jsonl"
    texts = catalogue(source)
    db = str(folder / "ackb")
    runs = [timed("graph", "ingest", str(source), "--db", db) for _ in range(3)]
    fixed = timed("graph", "stats", "--db", db)
    print(f"{texts} texts; first ingest {runs[0]:.1f} s; re-ingest {runs[1]:.1f} s and "
          f"{runs[2]:.1f} s ({runs[1] / runs[0]:.0%}, {runs[2] / runs[0]:.0%} of the first); "
          f"a no-op command on the same database {fixed:.1f} s")


if __name__ == "__main__":
    main()
