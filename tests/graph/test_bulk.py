import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kdcvg.errors import StoreError
from kdcvg.graph.bulk import bulk_load
from kdcvg.graph.ingest import write_batch
from kdcvg.graph.records import read_batch
from kdcvg.graph.server import BULK_MARKER, EmbeddedServer

ROOT = Path(__file__).resolve().parents[2]


def test_bulk_load_gives_the_same_graph_as_ingest(store, embedder):
    report = bulk_load(store, read_batch(ROOT / "examples" / "ackb.jsonl"), embedder)
    assert report.written["Clip"] == 1 and report.written["EXPRESSES"] == 1 and report.embedded == 7
    stats = store.stats()
    assert {k: v["nodes"] for k, v in stats["nodes"].items()} == {
        "Product": 1, "Category": 1, "SellingPoint": 2, "Clip": 1, "MotionPattern": 2}
    assert stats["relationships"] == {"IN_CATEGORY": 1, "HAS_SELLING_POINT": 2, "SHOWS": 1,
                                      "EXPRESSES": 1, "HAS_MOTION": 1, "SUGGESTS": 1}
    # edges are traversable both ways and carry their properties
    assert store.query("clips_for_selling_point", selling_point="sp-cold-brew-1")[0]["weight"] == 0.9
    assert [r["id"] for r in store.query("selling_points_of_product", product="p-cold-brew")] == [
        "sp-cold-brew-1", "sp-cold-brew-2"]
    # and a later plain ingest merges into it without duplicates
    write_batch(store, read_batch(ROOT / "examples" / "ackb.jsonl"), embedder)
    assert store.stats()["relationships"]["EXPRESSES"] == 1


def test_bulk_refuses_a_database_that_holds_nodes(store, embedder):
    write_batch(store, read_batch(ROOT / "examples" / "products.csv"), embedder)
    with pytest.raises(StoreError, match="first load into an empty database, and this one holds 4 nodes"):
        bulk_load(store, read_batch(ROOT / "examples" / "ackb.jsonl"), embedder)


def test_a_failed_bulk_load_is_undone(store, embedder, monkeypatch):
    from arcadedb_embedded.graph_batch import GraphBatch

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(GraphBatch, "new_edges", broken)
    with pytest.raises(StoreError, match="bulk load failed and was undone .*disk full"):
        bulk_load(store, read_batch(ROOT / "examples" / "ackb.jsonl"), embedder)
    assert sum(v["nodes"] for v in store.stats()["nodes"].values()) == 0
    assert not (store.server.root / BULK_MARKER).exists()


def test_ctrl_c_during_a_bulk_load_undoes_it(store, embedder, monkeypatch):
    from arcadedb_embedded.graph_batch import GraphBatch

    from kdcvg.interrupts import Interrupted

    def interrupted(*args, **kwargs):
        raise Interrupted(signal.SIGINT)

    monkeypatch.setattr(GraphBatch, "new_edges", interrupted)
    with pytest.raises(Interrupted):
        bulk_load(store, read_batch(ROOT / "examples" / "ackb.jsonl"), embedder)
    assert sum(v["nodes"] for v in store.stats()["nodes"].values()) == 0
    assert not (store.server.root / BULK_MARKER).exists()


def test_an_interrupted_bulk_load_is_refused_on_open(tmp_path):
    folder = tmp_path / "db"
    folder.mkdir()
    (folder / BULK_MARKER).write_text("killed\n")
    with pytest.raises(StoreError, match="interrupted `graph ingest --bulk` load .*delete the folder"):
        EmbeddedServer(folder).start()


def test_a_held_folder_is_in_use_even_with_the_bulk_marker(tmp_path):
    from kdcvg.graph.server import FolderLock

    folder = tmp_path / "db"
    live = FolderLock(folder)  # a --bulk load in progress holds the lock and has left its marker
    live.acquire()
    try:
        (folder / BULK_MARKER).write_text("loading\n")
        with pytest.raises(StoreError, match=f"is in use by process {os.getpid()} ") as e:
            EmbeddedServer(folder).start()
        assert "interrupted" not in str(e.value)
    finally:
        live.release()


@pytest.mark.slow
def test_a_second_command_during_a_live_bulk_load_says_the_folder_is_in_use(tmp_path):
    rows = [{"type": "product", "id": "p", "name": "P"}]
    rows += [{"type": "selling_point", "id": f"sp-{i}", "product": "p", "text": f"point {i}"}
             for i in range(50)]
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = tmp_path / "ackb"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "COLUMNS": "120"}
    cli = [sys.executable, "-m", "kdcvg.cli"]
    load = subprocess.Popen([*cli, "graph", "ingest", str(big), "--bulk", "--db", str(db)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (db / BULK_MARKER).exists():  # the load has begun writing
            assert load.poll() is None, load.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the --bulk load never started"
            time.sleep(0.01)
        load.send_signal(signal.SIGSTOP)  # hold it mid-load, as a long load would be
        second = subprocess.run([*cli, "graph", "stats", "--db", str(db)], env=env,
                                capture_output=True, text=True, timeout=240)
        load.send_signal(signal.SIGCONT)
        assert second.returncode == 1
        assert f"is in use by process {load.pid} (" in second.stderr
        assert "interrupted" not in second.stderr
        out, err = load.communicate(timeout=240)
        assert load.returncode == 0, err[-2000:]
    finally:
        load.send_signal(signal.SIGCONT)
        if load.poll() is None:
            load.kill()
    assert not (db / BULK_MARKER).exists()
