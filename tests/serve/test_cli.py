"""`kdcvg serve` end to end: a real server in a subprocess, the CLI forwarding to it.

Each forwarded command is run twice through the root app, once with discovery off
(`KDCVG_NO_SERVER=1`: the command opens the store itself, as without a server) and
once sent to the server: stdout and the exit status must be the same, and stderr the
same but for the one line that says where the work went.
"""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from kdcvg.cli import app
from tests.generation.adkit import PRODUCT, SP_COLD, SP_POUR
from tests.serve.kit import TrainedStore, start_server, trained_store

pytestmark = pytest.mark.slow
runner = CliRunner()
SENT = re.compile(r"^kdcvg: sent to the running server http://127\.0\.0\.1:\d+ \(pid \d+\)\n")
KNIFE = "Razor-sharp Japanese steel slices tomatoes paper thin."


@pytest.fixture(scope="module")
def trained(graph_server: Any, embedder: Any, tmp_path_factory: pytest.TempPathFactory
            ) -> TrainedStore:
    return trained_store(graph_server, embedder, tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def server(trained: TrainedStore, tmp_path_factory: pytest.TempPathFactory) -> Any:
    s = start_server(trained, tmp_path_factory.mktemp("serve-log") / "serve.log")
    yield s
    s.stop()


def _run(trained: TrainedStore, args: list[str], remote: bool) -> Any:
    env = {**trained.env, "KDCVG_NO_SERVER": "" if remote else "1"}
    return runner.invoke(app, [*args, *trained.args], env=env)


def both(trained: TrainedStore, args: list[str]) -> tuple[Any, Any]:
    """(without the server, through it): the same command twice."""
    return _run(trained, args, remote=False), _run(trained, args, remote=True)


def assert_same(local: Any, remote: Any, sent: bool = True) -> None:
    """Same status, stdout and stderr; `sent`: the command reached the server (it says so)."""
    assert remote.exit_code == local.exit_code, (local.output, remote.output)
    assert remote.stdout == local.stdout
    assert bool(SENT.match(remote.stderr)) == sent, remote.stderr
    assert SENT.sub("", remote.stderr) == local.stderr


@pytest.mark.parametrize("args", [
    ["graph", "stats"],
    ["graph", "stats", "--json"],
    ["graph", "query", "products"],
    ["graph", "query", "selling_points_of_product", "-p", "product=edge-knife", "--json"],
    ["graph", "query", "coverage_gaps", "--format", "csv"],
    ["graph", "cypher", "MATCH (c:Clip) RETURN c.id AS id, c.caption AS caption "
     "ORDER BY id LIMIT 5"],
    ["sar", "retrieve", KNIFE, "--k", "5"],
    ["sar", "retrieve", "bubbles that stay fizzy", "--product", "aurora-water"],
], ids=lambda a: " ".join(a[:3]))
def test_reads_print_the_same_through_the_server(trained, server, args):
    local, remote = both(trained, args)
    assert local.exit_code == 0, local.output
    assert_same(local, remote)


def test_a_command_refused_before_the_store_is_not_sent(trained, server):
    local, remote = both(trained, ["graph", "query", "ingest_merge_clip"])
    assert local.exit_code == 1 and "is internal to kdcvg" in local.stderr
    assert_same(local, remote, sent=False)


@pytest.mark.parametrize(("args", "line"), [
    (["graph", "cypher", "MATCH (n) RETURN n.id AS"], "Cypher syntax error"),
    (["graph", "cypher", "MATCH (n) DETACH DELETE n"], "ad-hoc Cypher is read-only"),
    (["sar", "retrieve", "tasty", "--product", "nope"], "unknown product id 'nope'"),
    (["sar", "retrieve", "tasty", "--category", "Nope"], "unknown category 'Nope'"),
    (["graph", "link", "--clip", "clip-x", "--selling-point", SP_POUR], "clip-x"),
    (["graph", "add-selling-point", "--product", "nope", "Great"], "does not exist"),
], ids=lambda a: " ".join(a[:2]) if isinstance(a, list) else "")
def test_errors_are_the_same_line_and_status(trained, server, args, line):
    local, remote = both(trained, args)
    assert local.exit_code == 1 and line in local.stderr, local.output
    assert_same(local, remote)


@pytest.mark.slow
def test_a_command_the_server_does_not_answer_says_to_stop_it(tmp_path):
    """On an embedded folder `kdcvg serve` holds, `sar train` (not forwarded) is refused
    with a line that says what the server answers and to stop it for this command."""
    import os
    import subprocess
    import sys

    from tests.serve.kit import REPO, TrainedStore, start_server

    db = tmp_path / "store" / "ackb"
    served = start_server(TrainedStore(None, db.parent, {}, ["--db", str(db)]),
                          tmp_path / "serve.log")
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("KDCVG_NO_SERVER", None)
        done = subprocess.run([sys.executable, "-m", "kdcvg.cli", "sar", "train", "--db",
                               str(db)], env=env, capture_output=True, text=True, timeout=120)
    finally:
        assert served.stop() == 143
    assert done.returncode == 1
    assert f"database folder {db} is in use by process {served.proc.pid} " in done.stderr
    assert ("`kdcvg serve` answers sar retrieve|feedback, graph query|stats|cypher|"
            "add-selling-point|link, generate ad|batch for it; stop the server for this "
            "command") in done.stderr


def test_retrieve_json_is_the_same_but_for_wall_time(trained, server):
    local, remote = both(trained, ["sar", "retrieve", KNIFE, "--k", "3", "--json"])
    assert local.exit_code == remote.exit_code == 0
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    assert set(a["timing"]) == set(b["timing"]) == {"retrieve_ms", "wall_ms"}
    del a["timing"], b["timing"]
    assert a == b and a["hits"][0]["clip_id"] == "clip-edge-knife-slice"


def test_a_forwarded_retrieve_imports_nothing_heavy(trained, server):
    """The forwarding path loads typer and httpx, not torch, numpy or the graph driver."""
    import os
    import subprocess
    import sys

    from tests.serve.kit import REPO

    env = {**os.environ, **trained.env, "PYTHONPATH": str(REPO)}
    env.pop("KDCVG_NO_SERVER", None)
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "kdcvg.cli", "sar",
                           "retrieve", KNIFE, "--k", "3", *trained.args],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1. " in done.stdout and "kdcvg: sent to the running server" in done.stderr
    imported = {line.rpartition("|")[2].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "httpx" in imported
    assert not imported & {"torch", "numpy", "neo4j", "torch_geometric", "sentence_transformers",
                           "jpype", "fastapi", "uvicorn"}


def test_curation_through_the_server_is_written_and_retrieval_reloads(trained, server):
    body = {"text": KNIFE, "product": "edge-knife", "k": 33}
    headers = {"Authorization": f"Bearer {server.token}"}
    before = [h["clip_id"] for h in httpx.post(server.url + "/api/retrieve", json=body,
                                               timeout=120).json()["hits"]]
    moved = before[8]
    out = _run(trained, ["graph", "link", "--clip", moved, "--selling-point", "sp-edge-knife-1"],
               remote=True)
    assert out.exit_code == 0 and SENT.match(out.stderr), out.output
    assert out.stdout == (f"linked {moved} -[:EXPRESSES {{weight: 1.0, source: curated}}]-> "
                          "sp-edge-knife-1\n")
    rows = trained.store.query("clips_for_selling_point", selling_point="sp-edge-knife-1")
    assert moved in {r["clip"] for r in rows}
    after = [h["clip_id"] for h in httpx.post(server.url + "/api/retrieve", json=body,
                                              headers=headers, timeout=120).json()["hits"]]
    assert after.index(moved) < before.index(moved)

    added = _run(trained, ["graph", "add-selling-point", "--product", PRODUCT,
                           "Fits every cup holder"], remote=True)
    assert added.exit_code == 0 and added.stdout.startswith("added sp-p-aqua-"), added.output
    new_id = added.stdout.split()[1]
    assert trained.store.query("selling_points_of_product", product=PRODUCT)
    again_local, again_remote = both(trained, ["graph", "add-selling-point", "--product",
                                               PRODUCT, "Fits every cup holder"])
    assert again_local.exit_code == 1 and "near-duplicate of" in again_local.stderr
    assert new_id in again_local.stderr
    assert_same(again_local, again_remote)


def test_feedback_is_recorded_the_same_way(trained, server, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"clip": "clip-x", "selling_point": "sp-edge-knife-1", "rating": 5}\n')
    local, remote = both(trained, ["sar", "feedback", str(bad)])
    assert local.exit_code == 1 and "unknown clip id 'clip-x'" in local.stderr
    assert_same(local, remote)
    good = tmp_path / "good.csv"
    good.write_text("clip,selling_point,rating\nclip-edge-knife-slice,sp-edge-knife-1,5\n")
    local, remote = both(trained, ["sar", "feedback", str(good)])
    assert local.exit_code == 0 and "recorded 1 feedback row(s)" in local.stdout
    assert_same(local, remote)
    lines = (trained.home / "sar" / "feedback.jsonl").read_text().splitlines()
    assert len(lines) == 2 and lines[0] == lines[1]


def test_generate_ad_makes_the_same_bytes(trained, server, tmp_path):
    out = tmp_path / "ad.mp4"
    args = ["generate", "ad", "--product", PRODUCT, "-s", SP_POUR, "-s", SP_COLD,
            "--format", "1:1", "--size", "240x240", "-o", "fps=8", "--seed", "3",
            "--references", "curated", "--out", str(out)]
    local = _run(trained, args, remote=False)
    assert local.exit_code == 0, local.output
    first = out.read_bytes()
    remote = _run(trained, args, remote=True)
    assert_same(local, remote)
    assert out.read_bytes() == first
    assert json.loads(out.with_suffix(".json").read_text())["video"] == "ad.mp4"


def _masked(text: str, *folders: Path) -> str:
    for folder in folders:
        text = text.replace(str(folder), "OUT")
    return re.sub(r"\d+\.\d s", "T s", text)


def test_generate_batch_prints_the_same(trained, server, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    rows = [{"id": f"ad-{i}", "product": PRODUCT, "selling_points": [SP_POUR], "format": "1:1",
             "size": "240x240", "seed": i, "options": {"fps": 8}} for i in range(2)]
    rows.append({"id": "bad", "product": "no such product", "selling_points": [SP_POUR]})
    jobs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = ["generate", "batch", str(jobs), "--references", "curated"]
    local, remote = both(trained, [*base, "--out", str(tmp_path / "a")])
    assert local.exit_code == 1 and "bad row" not in local.stdout
    assert "use --skip-bad" in local.stderr
    assert_same(local, remote)
    local = _run(trained, [*base, "--skip-bad", "--out", str(tmp_path / "a")], remote=False)
    remote = _run(trained, [*base, "--skip-bad", "--out", str(tmp_path / "b")], remote=True)
    assert local.exit_code == remote.exit_code == 1, remote.output
    assert "2 done, 0 skipped, 1 failed" in local.stdout
    assert _masked(remote.stdout, tmp_path / "b") == _masked(local.stdout, tmp_path / "a")
    for name in ("ad-0.mp4", "ad-1.mp4"):
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()


def test_token_rules_on_the_real_server(trained, server):
    anonymous = httpx.post(server.url + "/api/links", timeout=30,
                           json={"clip": "clip-edge-knife-slice", "selling_point": SP_POUR})
    assert anonymous.status_code == 401 and "needs the server's token" in anonymous.json()["error"]
    wrong = httpx.post(server.url + "/api/links", timeout=30,
                       headers={"Authorization": "Bearer nope"},
                       json={"clip": "clip-edge-knife-slice", "selling_point": SP_POUR})
    assert wrong.status_code == 403 and wrong.json() == {
        "error": "POST /api/links: the token presented is not this server's"}
    assert httpx.get(server.url + "/api/stats", timeout=30).status_code == 200
    linked = trained.store.query("clips_for_selling_point", selling_point=SP_POUR)
    assert "clip-edge-knife-slice" not in {r["clip"] for r in linked}


def _manifest(folder: Path) -> dict[str, str]:
    jobs = json.loads((folder / "manifest.json").read_text())["jobs"]
    return {job_id: entry["state"] for job_id, entry in jobs.items()}


def test_sigterm_during_a_batch_leaves_it_resumable(trained, server, tmp_path):
    server.stop()  # the module's server: this test starts its own twice
    first = start_server(trained, tmp_path / "serve1.log")
    headers = {"Authorization": f"Bearer {first.token}"}
    rows = [{"id": f"ad-{i}", "product": PRODUCT, "selling_points": [SP_POUR, SP_COLD],
             "format": "1:1", "size": "240x240", "seed": i, "options": {"fps": 8}}
            for i in range(6)]
    job = httpx.post(first.url + "/api/jobs/batch", headers=headers, timeout=30,
                     json={"jobs": rows, "references": "curated"}).json()
    folder = trained.home / "ads" / job["id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if (folder / "manifest.json").exists() and "done" in _manifest(folder).values():
            break
        time.sleep(0.2)
    assert first.stop(signal.SIGTERM) == 143, first.output()
    assert "interrupted by SIGTERM" in first.output()
    assert not (trained.home / "serve.json").exists()
    states = _manifest(folder)
    assert "done" in states.values() and "pending" in states.values(), states
    assert json.loads((folder / "job.json").read_text())["state"] == "queued"
    done_before = {j for j, s in states.items() if s == "done"}

    second = start_server(trained, tmp_path / "serve2.log")
    try:
        answer = httpx.get(f"{second.url}/api/jobs/{job['id']}", params={"wait": 30},
                           timeout=60).json()
        while answer["state"] in ("queued", "running"):
            answer = httpx.get(f"{second.url}/api/jobs/{job['id']}", params={"wait": 30},
                               timeout=60).json()
        assert answer["state"] == "done", answer
        result = {j["id"]: j["state"] for j in answer["result"]["jobs"]}
        assert {j for j, s in result.items() if s == "skipped"} == done_before
        assert set(_manifest(folder).values()) == {"done"}
        files = httpx.get(f"{second.url}/api/jobs/{job['id']}/files", timeout=30).json()
        assert {f"ad-{i}.mp4" for i in range(6)} <= set(files)
    finally:
        assert second.stop(signal.SIGINT) == 130
