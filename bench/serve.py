"""`kdcvg serve` under load: HTTP retrieval latency and throughput against the in-process floor.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/serve.py                 # the demo graph
    HF_HUB_OFFLINE=1 .venv/bin/python bench/serve.py --clips 10000   # a synthetic 10k-clip graph
    HF_HUB_OFFLINE=1 .venv/bin/python bench/serve.py --max-batch 32,1  # batching, then without

One run: builds the graph in a fresh embedded database (the demo catalogue with its
curated links, or `bench/retrieval.py`'s synthetic graph written through the ingest
API), trains SAR briefly, then

1. the in-process floor: `SarRetriever.retrieve` on the same queries, model loaded;
2. starts `kdcvg serve --db ... --port 0` (a subprocess, 127.0.0.1 only) and runs a
   bounded load loop with 1, 8 and 32 concurrent clients (httpx, one connection each,
   closed loop: each client sends its next request when the last one answered):
   p50/p99 latency and throughput per level, errors counted; with `--max-batch 32,1`
   once per server setting (`kdcvg serve --max-batch`; 1 answers one request at a
   time), each server started on the same store in turn;
3. `kdcvg sar retrieve` as a user runs it (a new process each time) with the server up:
   its wall time;
4. a mixed load: curators link clips (`POST /api/links`, with the token) while
   analysts retrieve; afterwards every acknowledged link must be in the graph.

Two query sets, each measured on its own: selling points the graph knows (precomputed
encodings) and new text (every query different, embedded with MiniLM per request); the
mixed load alternates them. Timings on a shared machine swing; the
ratio to the floor measured in the same run is what to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from kdcvg.remote import http_client

BENCH = Path(__file__).resolve().parent
NEW_TEXTS = ["keeps drinks cold all day", "a gentle pour into a glass", "crisp and crunchy bite",
             "fits in any backpack", "quiet motor, strong suction", "soft on sensitive skin",
             "charges fully in an hour", "stays sharp for years", "bright colours that pop",
             "made from recycled steel"]


def demo_batch() -> Any:
    """The demo catalogue and its clips with curated links (no footage needed to retrieve)."""
    from kdcvg.demo.build import catalogue_with_clips_batch

    return catalogue_with_clips_batch()


NODES_PER_WRITE = 500  # rows carrying 384 floats each: one Bolt message stays small


def synthetic_batches(n_clip: int, n_sp: int) -> list[Any]:
    """`bench/retrieval.py`'s synthetic graph as ingest batches (its vectors as embeddings):
    the nodes in slices of `NODES_PER_WRITE`, then every link."""
    from kdcvg.graph.records import IngestBatch

    sys.path.insert(0, str(BENCH))
    from retrieval import synthetic

    data, ids = synthetic(n_clip, n_sp)
    batches = [IngestBatch()]

    class Slices:
        """Adds nodes to the current batch, starting a new one every NODES_PER_WRITE rows."""

        count = 0

        def add_node(self, label: str, row: dict[str, Any]) -> None:
            if self.count and self.count % NODES_PER_WRITE == 0:
                batches.append(IngestBatch())
            batches[-1].add_node(label, row)
            self.count += 1

    batch: Any = Slices()

    def vec(nt: str, i: int) -> list[float]:
        return [float(x) for x in data[nt].x[i]]

    for i, key in enumerate(ids["motion_pattern"]):
        batch.add_node("MotionPattern", {"name": key, "kind": "camera", "embedding": vec(
            "motion_pattern", i)})
    for i, key in enumerate(ids["category"]):
        batch.add_node("Category", {"name": key, "embedding": vec("category", i)})
    for i, key in enumerate(ids["product"]):
        batch.add_node("Product", {"id": key, "name": f"Product {i}", "embedding": vec("product", i)})
    for i, key in enumerate(ids["selling_point"]):
        batch.add_node("SellingPoint", {"id": key, "text": f"selling point number {i}",
                                        "embedding": vec("selling_point", i)})
    motion = data["clip"].motion
    for i, key in enumerate(ids["clip"]):
        batch.add_node("Clip", {"id": key, "uri": f"clips/{key}.mp4", "caption": f"clip {i}",
                                "embedding": vec("clip", i),
                                "motion": [float(x) for x in motion[i]]})
    rels = {("product", "in_category", "category"): "IN_CATEGORY",
            ("product", "has_selling_point", "selling_point"): "HAS_SELLING_POINT",
            ("clip", "shows", "product"): "SHOWS",
            ("clip", "expresses", "selling_point"): "EXPRESSES",
            ("clip", "has_motion", "motion_pattern"): "HAS_MOTION",
            ("selling_point", "suggests", "motion_pattern"): "SUGGESTS"}
    batch = IngestBatch()
    batches.append(batch)
    for (src, _, dst), rel in rels.items():
        ei = data[src, _, dst].edge_index.tolist()
        props = ({"weight": 1.0, "source": "curated"} if rel == "EXPRESSES"
                 else {"score": 1.0, "source": "curated"} if rel == "HAS_MOTION" else None)
        for s, d in sorted(set(zip(ei[0], ei[1], strict=True))):
            batch.add_link(rel, ids[src][s], ids[dst][d], props)
    return batches


def build(folder: Path, clips: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Build and train the store in `folder/ackb`; (known texts, (clip, sp) pairs to link)."""
    from kdcvg.config import resolve_store
    from kdcvg.graph.embeddings import default_embedder
    from kdcvg.graph.ingest import write_batch
    from kdcvg.graph.store import open_store
    from kdcvg.retrieval.pipeline import train_sar

    config = resolve_store(db=folder / "ackb")
    batches = [demo_batch()] if clips == 0 else synthetic_batches(clips, max(clips // 5, 40))
    started = time.perf_counter()
    with open_store(config) as store:
        for batch in batches:
            write_batch(store, batch, default_embedder())
        t = time.perf_counter()
        print(f"graph written in {t - started:.1f} s", flush=True)
        train_sar(store, config.home, epochs=3 if clips else 8, ppo_steps=64, seed=0)
        print(f"SAR trained in {time.perf_counter() - t:.1f} s", flush=True)
        sps = store.query("sar_selling_point_texts")
        clip_ids = [r["clip"] for r in store.query("sar_clip_texts")]
    known = [r["text"] for r in sps][:50]
    rng = random.Random(0)
    pairs = [(rng.choice(clip_ids), rng.choice(sps)["selling_point"]) for _ in range(200)]
    return known, pairs


def queries(known: list[str], n: int, mix: str = "both") -> list[str]:
    """`known` selling points, `new` text (each one different), or `both` alternately."""
    new = [f"{NEW_TEXTS[i % len(NEW_TEXTS)]}, version {i}" for i in range(n)]
    if mix == "known":
        return [known[i % len(known)] for i in range(n)]
    if mix == "new":
        return new
    return [known[i // 2 % len(known)] if i % 2 == 0 else new[i] for i in range(n)]


def floor(folder: Path, texts: list[str]) -> list[float]:
    """Seconds per `SarRetriever.retrieve` in this process, model loaded and warm."""
    from kdcvg.config import resolve_store
    from kdcvg.graph.store import open_store
    from kdcvg.retrieval.retrieve import SarRetriever

    config = resolve_store(db=folder / "ackb")
    with open_store(config) as store:
        retriever = SarRetriever.load(store, config.home)
        for t in texts[:10]:
            retriever.retrieve(t, k=10)
        out = []
        for t in texts:
            started = time.perf_counter()
            retriever.retrieve(t, k=10)
            out.append(time.perf_counter() - started)
    return out


def start_server(folder: Path, threads: int, max_batch: int, wait_ms: float
                 ) -> tuple[subprocess.Popen[bytes], str, str]:
    env = {**os.environ, "KDCVG_JVM_HEAP": os.environ.get("KDCVG_JVM_HEAP", "1g")}
    proc = subprocess.Popen([sys.executable, "-m", "kdcvg.cli", "serve", "--db",
                             str(folder / "ackb"), "--port", "0", "--threads", str(threads),
                             "--max-batch", str(max_batch), "--batch-wait-ms", str(wait_ms)],
                            env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"kdcvg serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            info = json.loads((folder / "serve.json").read_text())
            if info["pid"] == proc.pid:
                return proc, info["url"], (folder / "serve.token").read_text().strip()
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("kdcvg serve did not start in 300 s")


def load(url: str, texts: list[str], clients: int, per_client: int,
         token: str | None = None) -> dict[str, Any]:
    """`clients` closed-loop clients, `per_client` retrievals each; latency and throughput."""

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        with http_client(120, base_url=url) as http:
            for i in range(per_client):
                text = texts[(c * per_client + i) % len(texts)]
                started = time.perf_counter()
                r = http.post("/api/retrieve", json={"text": text, "k": 10})
                took = time.perf_counter() - started
                with lock:
                    latencies.append(took)
                    if r.status_code != 200:
                        errors.append(r.text[:200])

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {"clients": clients, "requests": len(latencies), "errors": len(errors),
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "throughput_rps": round(len(latencies) / wall, 1), "first_error": errors[:1]}


def cli_wall(folder: Path, text: str, runs: int) -> list[float]:
    """Wall seconds of `kdcvg sar retrieve` (a new process each run) with the server up."""
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "kdcvg.cli", "sar", "retrieve", text,
                               "--db", str(folder / "ackb")], capture_output=True, text=True)
        out.append(time.perf_counter() - started)
        if done.returncode != 0 or "sent to the running server" not in done.stderr:
            raise SystemExit(f"sar retrieve did not use the server: {done.stderr}")
    return out


def mixed(url: str, token: str, texts: list[str], pairs: list[tuple[str, str]],
          analysts: int, seconds: float) -> dict[str, Any]:
    """Curators link (one at a time each) while analysts retrieve; then check every link."""

    acknowledged: list[tuple[str, str]] = []
    errors: list[str] = []
    reads: list[float] = []
    stop = threading.Event()
    lock = threading.Lock()

    def curator(mine: list[tuple[str, str]]) -> None:
        with http_client(300, base_url=url,
                         headers={"Authorization": f"Bearer {token}"}) as http:
            for clip, sp in mine:
                if stop.is_set():
                    return
                r = http.post("/api/links", json={"clip": clip, "selling_point": sp,
                                                   "weight": 0.7})
                with lock:
                    (acknowledged.append((clip, sp)) if r.status_code == 200
                     else errors.append(r.text[:200]))

    def analyst(c: int) -> None:
        with http_client(300, base_url=url) as http:
            i = 0
            while not stop.is_set():
                started = time.perf_counter()
                r = http.post("/api/retrieve", json={"text": texts[(c + i) % len(texts)]})
                with lock:
                    reads.append(time.perf_counter() - started)
                    if r.status_code != 200:
                        errors.append(r.text[:200])
                i += 1

    threads = [threading.Thread(target=curator, args=(pairs[k::2],)) for k in range(2)]
    threads += [threading.Thread(target=analyst, args=(c,)) for c in range(analysts)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    missing = []
    with http_client(120, base_url=url) as http:
        for clip, sp in sorted(set(acknowledged)):
            rows = http.post("/api/cypher", json={
                "text": "MATCH (c:Clip {id: $clip})-[e:EXPRESSES]->(s:SellingPoint {id: $sp}) "
                        "RETURN e.weight AS weight, e.source AS source",
                "params": {"clip": clip, "sp": sp}}).json()["rows"]
            if not rows:
                missing.append((clip, sp))
    ms = np.array(reads) * 1000
    return {"links_acknowledged": len(acknowledged), "links_missing": len(missing),
            "reads": len(reads), "errors": len(errors), "first_error": errors[:1],
            "read_p50_ms": round(float(np.percentile(ms, 50)), 1) if reads else None,
            "read_p99_ms": round(float(np.percentile(ms, 99)), 1) if reads else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=0, help="0: the demo graph; N: synthetic")
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--cli-runs", type=int, default=5)
    parser.add_argument("--mixed-seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch/FAISS threads, in-process and in the server")
    parser.add_argument("--max-batch", default="32",
                        help="the server's --max-batch, or several (e.g. 32,1): the load "
                             "levels are run against a server started with each")
    parser.add_argument("--batch-wait-ms", type=float, default=2.0,
                        help="the server's --batch-wait-ms")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    results: dict[str, Any] = {"graph": "demo" if args.clips == 0 else f"{args.clips} clips",
                               "cpus": os.cpu_count(), "threads": args.threads,
                               "load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="kdcvg-bench-serve-") as tmp:
        folder = Path(tmp)
        from kdcvg.serve.cli import set_threads

        known, pairs = build(folder, args.clips)
        set_threads(args.threads)
        mixes = {mix: queries(known, args.requests, mix) for mix in ("known", "new")}
        texts = queries(known, args.requests)
        results["in_process_floor"] = {}
        for mix, mixed_texts in mixes.items():
            took = floor(folder, mixed_texts)
            results["in_process_floor"][mix] = {
                "p50_ms": round(statistics.median(took) * 1000, 2),
                "p99_ms": round(float(np.percentile(took, 99)) * 1000, 2)}
        print("in-process floor:", results["in_process_floor"], flush=True)
        results["http"] = []
        for n, max_batch in enumerate(int(b) for b in args.max_batch.split(",")):
            proc, url, token = start_server(folder, args.threads, max_batch, args.batch_wait_ms)
            try:
                load(url, texts, 2, 10)  # warm the connection pool and caches
                for mix, mixed_texts in mixes.items():
                    for clients in (int(c) for c in args.levels.split(",")):
                        row = {"max_batch": max_batch, "queries": mix} | load(
                            url, mixed_texts, clients, max(args.requests // clients, 5))
                        results["http"].append(row)
                        print(row, flush=True)
                with http_client(30, base_url=url) as http:
                    row = {"max_batch": max_batch} | http.get("/api/health").json()["retrieval"]
                results.setdefault("batches", []).append(row)
                print("batches:", row, flush=True)
                if n == 0:  # the CLI and the mixed load once, on the first setting
                    walls = cli_wall(folder, known[0], args.cli_runs)
                    results["cli_sar_retrieve_wall_s"] = {
                        "median": round(statistics.median(walls), 3), "max": round(max(walls), 3)}
                    print("cli:", results["cli_sar_retrieve_wall_s"], flush=True)
                    results["mixed"] = mixed(url, token, texts, pairs, 4, args.mixed_seconds)
                    print("mixed:", results["mixed"], flush=True)
            finally:
                proc.terminate()
                results.setdefault("server_exit", []).append(proc.wait(120))
        results["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    bad = results["mixed"]["links_missing"] or any(r["errors"] for r in results["http"])
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
