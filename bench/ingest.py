"""Ingest speed on the embedded store: the project's paths against the bare driver.

Generates a synthetic ACKB (100k nodes, 300k relationships at --scale 1), then in
one run, each into a fresh database of one embedded server:
  1. baseline: the bare neo4j driver with plain `UNWIND $rows ... MERGE` (batches of 5000);
  2. project: `kdcvg graph ingest`'s path (read the JSONL file, validate, write_batch),
     embeddings excluded;
  3. bulk: `kdcvg graph ingest --bulk`'s path (read, validate, ArcadeDB batch API).
Prints rows/s and ratios to the baseline, export-to-HeteroData time, and embedding
throughput. Usage: python bench/ingest.py [--scale 1.0]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from kdcvg.graph.bulk import bulk_load
from kdcvg.graph.embeddings import default_embedder
from kdcvg.graph.export import export_graph
from kdcvg.graph.ingest import write_batch
from kdcvg.graph.records import read_batch
from kdcvg.graph.schema import NODES, RELATIONSHIPS
from kdcvg.graph.server import EmbeddedServer
from kdcvg.graph.store import Store


def synthetic(scale: float, seed: int = 0) -> list[dict]:
    """Records of a synthetic ACKB: about 100k nodes and 300k relationships at scale 1."""
    rng = random.Random(seed)
    n_cat, n_prod, n_sp, n_clip, n_mp = (max(2, int(x * scale)) for x in (100, 10_000, 44_950, 45_000, 50))
    recs: list[dict] = [{"type": "category", "name": f"cat{i}"} for i in range(n_cat)]
    recs += [{"type": "motion_pattern", "name": f"mp{i}", "kind": "camera" if i % 2 else "object",
              "description": f"motion pattern {i}"} for i in range(n_mp)]
    recs += [{"type": "product", "id": f"p{i}", "name": f"Product {i}", "brand": "Acme",
              "description": f"product number {i}", "category": f"cat{i % n_cat}"} for i in range(n_prod)]
    recs += [{"type": "selling_point", "id": f"s{i}", "product": f"p{i % n_prod}",
              "text": f"selling point {i} of product {i % n_prod}"} for i in range(n_sp)]
    recs += [{"type": "clip", "id": f"c{i}", "uri": f"clips/c{i}.mp4", "caption": f"clip {i}",
              "product": f"p{i % n_prod}", "duration_s": 3.0, "fps": 24, "width": 256, "height": 256}
             for i in range(n_clip)]
    expresses = {(f"c{rng.randrange(n_clip)}", f"s{rng.randrange(n_sp)}") for _ in range(int(120_000 * scale))}
    motion = {(f"c{rng.randrange(n_clip)}", f"mp{rng.randrange(n_mp)}") for _ in range(int(45_000 * scale))}
    suggests = {(f"s{rng.randrange(n_sp)}", f"mp{rng.randrange(n_mp)}") for _ in range(int(35_000 * scale))}
    recs += [{"type": "link", "rel": "EXPRESSES", "from": a, "to": b, "weight": 0.5} for a, b in sorted(expresses)]
    recs += [{"type": "link", "rel": "HAS_MOTION", "from": a, "to": b, "score": 0.7} for a, b in sorted(motion)]
    recs += [{"type": "link", "rel": "SUGGESTS", "from": a, "to": b} for a, b in sorted(suggests)]
    return recs


def bare_driver(store: Store, batch) -> tuple[float, float]:
    """The floor: plain UNWIND MERGE with the bare driver, same rows, same batches."""
    t0 = time.perf_counter()
    with store.driver.session(database=store.database) as session:
        for label, rows in batch.nodes.items():
            key = NODES[label].key
            text = f"UNWIND $rows AS row MERGE (n:{label} {{{key}: row.k}}) SET n += row.p"
            payload = [{"k": r[key], "p": {k: v for k, v in r.items() if k != key}} for r in rows]
            for i in range(0, len(payload), 5000):
                session.execute_write(lambda tx, c=payload[i:i + 5000], q=text: tx.run(q, rows=c).consume())
        t1 = time.perf_counter()
        for rel, rows in batch.links.items():
            spec = RELATIONSHIPS[rel]
            a, b = NODES[spec.source], NODES[spec.target]
            text = (f"UNWIND $rows AS row MATCH (a:{spec.source} {{{a.key}: row.source}}) "
                    f"MATCH (b:{spec.target} {{{b.key}: row.target}}) MERGE (a)-[r:{rel}]->(b) SET r += row.props")
            for i in range(0, len(rows), 5000):
                session.execute_write(lambda tx, c=rows[i:i + 5000], q=text: tx.run(q, rows=c).consume())
    return t1 - t0, time.perf_counter() - t1


def fresh_store(server: EmbeddedServer, name: str) -> Store:
    import neo4j

    server.database(name)
    store = Store(neo4j.GraphDatabase.driver(server.uri, auth=server.auth), name, "embedded", server)
    store.init_schema()
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kdcvg-bench-"))
    path = work / "ackb.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in synthetic(args.scale)) + "\n")
    results: dict[str, dict[str, float]] = {}
    with EmbeddedServer(work / "db") as server:
        batch = read_batch(path)
        n_nodes = sum(len(v) for v in batch.nodes.values())
        n_links = sum(len(v) for v in batch.links.values())
        print(f"synthetic ACKB: {n_nodes} nodes, {n_links} relationships ({path.stat().st_size / 1e6:.0f} MB JSONL)")

        # warm the JVM's JIT on a small graph first, so no path pays for it in the timing
        warm = work / "warm.jsonl"
        warm.write_text("\n".join(json.dumps(r) for r in synthetic(0.02, seed=1)) + "\n")
        for i, load in enumerate((bare_driver, write_batch, bulk_load)):
            store = fresh_store(server, f"warmup{i}")
            load(store, read_batch(warm)) if load is bare_driver else load(store, read_batch(warm), None)
            store.close()

        store = fresh_store(server, "baseline")
        t_nodes, t_links = bare_driver(store, batch)
        results["bare driver UNWIND MERGE"] = {"nodes": t_nodes, "links": t_links}
        store.close()

        for name, load in (("kdcvg graph ingest", write_batch), ("kdcvg graph ingest --bulk", bulk_load)):
            store = fresh_store(server, name.replace(" ", "_").replace("-", ""))
            t0 = time.perf_counter()
            batch = read_batch(path)  # the CLI reads and validates the file: counted
            t_read = time.perf_counter() - t0
            done = {"nodes": 0}
            marks: dict[str, float] = {}

            def progress(n: int, done=done, marks=marks) -> None:
                done["nodes"] += n
                if done["nodes"] >= n_nodes and "nodes" not in marks:
                    marks["nodes"] = time.perf_counter()

            t1 = time.perf_counter()
            load(store, batch, None, progress=progress)
            t2 = time.perf_counter()
            t_nodes = marks.get("nodes", t2) - t1 + t_read  # file reading charged to nodes
            results[name] = {"nodes": t_nodes, "links": t2 - marks.get("nodes", t2)}
            if "bulk" in name:
                import torch_geometric  # noqa: F401  (imported once per process; not the export's cost)

                runs = []
                for _ in range(3):
                    t3 = time.perf_counter()
                    data, _ = export_graph(store)
                    runs.append(time.perf_counter() - t3)
                results["export"] = {"seconds": sorted(runs)[1], "edges": data.num_edges}
                check = store.stats()
                assert check["nodes"]["Clip"]["nodes"] == len(batch.nodes["Clip"])
                assert check["relationships"]["EXPRESSES"] == len(batch.links["EXPRESSES"])
            store.close()

    base = results["bare driver UNWIND MERGE"]
    print(f"{'path':28} {'node rows/s':>12} {'rel rows/s':>12} {'total s':>8} {'vs bare':>8}")
    for name in ("bare driver UNWIND MERGE", "kdcvg graph ingest", "kdcvg graph ingest --bulk"):
        r = results[name]
        total = r["nodes"] + r["links"]
        print(f"{name:28} {n_nodes / r['nodes']:12.0f} {n_links / r['links']:12.0f} {total:8.1f} "
              f"{(base['nodes'] + base['links']) / total:7.2f}x")
    print(f"export to HeteroData: {results['export']['seconds']:.2f} s, median of 3 "
          f"({n_nodes} nodes, {results['export']['edges']:.0f} edges)")

    texts = [f"selling point number {i}: crisp, refreshing and light" for i in range(2000)]
    embedder = default_embedder()
    embedder.embed(texts[:32])  # load the model outside the timing
    t0 = time.perf_counter()
    embedder.embed(texts)
    print(f"embedding throughput: {len(texts) / (time.perf_counter() - t0):.0f} texts/s (MiniLM, CPU, batches of 128)")


if __name__ == "__main__":
    main()
