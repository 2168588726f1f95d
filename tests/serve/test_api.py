"""The JSON API in process (FastAPI's TestClient) on a real store: rules and errors.

The end-to-end behaviour through a real server and the CLI is in `test_cli.py`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kdcvg.serve.app import create_app
from kdcvg.serve.state import Service
from tests.generation.adkit import PRODUCT, SP_COLD, SP_POUR, build_ackb

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def service(store: Any, tmp_path: Path) -> Any:
    store.home = tmp_path / "home"
    build_ackb(store, tmp_path)
    service = Service(store, TOKEN)
    yield service
    service.close()


@pytest.fixture
def client(service: Any) -> Any:
    with TestClient(create_app(service)) as c:
        yield c


def test_reads_answer_json(client, service):
    assert client.get("/api/health").json() == {
        "ok": True, "store": service.identity, "public": False,
        "retrieval": {"max_batch": 32, "wait_ms": 2.0, "batches": 0, "requests": 0,
                      "largest": 0}}
    stats = client.get("/api/stats").json()
    assert stats["nodes"]["Clip"]["nodes"] == 4 and stats["relationships"]["EXPRESSES"] == 4
    names = {q["name"] for q in client.get("/api/queries").json()}
    assert {"products", "coverage_gaps", "clips_for_selling_point"} <= names
    rows = client.post("/api/queries/clips_for_selling_point",
                       json={"params": {"selling_point": SP_POUR}}).json()["rows"]
    assert [r["clip"] for r in rows] == ["c-pan", "c-pan-alt"]
    rows = client.post("/api/cypher", json={"text": "MATCH (p:Product) RETURN p.id AS id"}).json()
    assert rows == {"rows": [{"id": PRODUCT}]}
    clip = client.get("/api/clips/c-still").json()
    assert clip["product"] is None and clip["motion"] == [{"name": "zoom_in", "score": 0.9}]
    assert clip["selling_points"] == [{"id": SP_COLD, "weight": 0.8, "source": "curated"}]


@pytest.mark.parametrize(("method", "path", "body", "status", "error"), [
    ("post", "/api/queries/no_such_query", {}, 404, "no_such_query"),
    ("post", "/api/queries/ingest_merge_clip", {}, 400, "internal to kdcvg"),
    ("post", "/api/queries/clips_for_selling_point", {}, 400,
     "query clips_for_selling_point needs --param for: selling_point"),
    ("post", "/api/cypher", {"text": "CREATE (n:Clip {id: 'x'})"}, 400,
     "ad-hoc Cypher is read-only: CREATE is refused"),
    ("post", "/api/cypher", {"text": "MATCH (n RETURN n"}, 400, "Cypher syntax error"),
    ("post", "/api/retrieve", {"text": "cold water"}, 400, "no trained SAR model"),
    ("post", "/api/retrieve", {"text": "cold", "k": 0}, 400, "k: Input should be greater"),
    ("post", "/api/retrieve", {"k": 3}, 400, "text: Field required"),
    ("get", "/api/clips/nope", None, 404, "no clip 'nope' in the graph"),
    ("get", "/api/clips/..%2F..%2Fetc/keyframes", None, 404, ""),
    ("get", "/api/jobs/job-x", None, 404, "no job 'job-x' on this server"),
])
def test_errors_are_one_json_line_with_their_status(client, method, path, body, status, error):
    answer = getattr(client, method)(path, **({"json": body} if body is not None else {}))
    assert answer.status_code == status, answer.text
    assert set(answer.json()) == {"error"} and error in answer.json()["error"]


def test_writes_need_the_token(client, store):
    body = {"clip": "c-still", "selling_point": SP_POUR}
    missing = client.post("/api/links", json=body)
    assert missing.status_code == 401 and "needs the server's token" in missing.json()["error"]
    wrong = client.post("/api/links", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    cookie = client.post("/api/links", json=body, cookies={"kdcvg_token": "nope"})
    assert cookie.status_code == 403
    rows = store.query("clips_for_selling_point", selling_point=SP_POUR)
    assert "c-still" not in {r["clip"] for r in rows}
    for path, write in (("/api/selling-points", {"product": PRODUCT, "text": "Dishwasher safe"}),
                        ("/api/feedback", {"text": "{}"}),
                        ("/api/jobs/ad", {"product": PRODUCT, "selling_points": [SP_POUR]}),
                        ("/api/jobs/batch", {"jobs": []})):
        assert client.post(path, json=write).status_code == 401, path

    done = client.post("/api/links", json=body | {"weight": 0.5}, headers=AUTH)
    assert done.status_code == 200, done.text
    rows = store.query("clips_for_selling_point", selling_point=SP_POUR)
    assert {r["clip"]: r["weight"] for r in rows}["c-still"] == 0.5
    cookie = client.post("/api/links", json=body, cookies={"kdcvg_token": TOKEN})
    assert cookie.status_code == 200


def test_curation_errors_are_the_library_ones(client):
    answer = client.post("/api/links", headers=AUTH,
                         json={"clip": "../x", "selling_point": SP_POUR})
    assert answer.status_code == 400 and "'../x' is not a valid id" in answer.json()["error"]
    answer = client.post("/api/links", headers=AUTH,
                         json={"clip": "c-pan", "selling_point": SP_POUR, "weight": 2})
    assert answer.status_code == 400 and "weight: Input should be less than or equal to 1" \
        in answer.json()["error"]
    body = {"product": PRODUCT, "text": "Safe in the dishwasher"}
    added = client.post("/api/selling-points", headers=AUTH, json=body)
    assert added.status_code == 200 and added.json()["id"].startswith("sp-p-aqua-"), added.text
    answer = client.post("/api/selling-points", headers=AUTH, json=body)
    assert answer.status_code == 400
    assert f"near-duplicate of {added.json()['id']!r}" in answer.json()["error"]


def test_a_public_server_needs_the_token_for_reads(store, tmp_path):
    store.home = tmp_path / "home"
    service = Service(store, TOKEN, public=True)
    with TestClient(create_app(service)) as client:
        assert client.get("/api/stats").status_code == 401
        assert client.get("/docs").status_code == 401
        assert client.get("/api/stats", headers={"Authorization": "Bearer x"}).status_code == 403
        assert client.get("/api/stats", headers=AUTH).status_code == 200


def _finished(client: Any, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    job = client.get(f"/api/jobs/{job_id}", params={"wait": 5}).json()
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}", params={"wait": 5}).json()
    return dict(job)


def test_an_ad_job_writes_into_its_folder_and_serves_its_files(client, service):
    ad = {"product": PRODUCT, "selling_points": [SP_POUR], "format": "1:1", "size": "240x240",
          "options": {"fps": 8}, "references": "curated", "name": "pour.mp4"}
    submitted = client.post("/api/jobs/ad", json=ad, headers=AUTH)
    assert submitted.status_code == 202 and submitted.json()["state"] == "queued"
    job = _finished(client, submitted.json()["id"])
    assert job["state"] == "done", job
    assert job["result"]["files"] == ["pour.mp4", "pour.jpg", "pour.json"]
    folder = service.ads_root / job["id"]
    assert json.loads((folder / "job.json").read_text())["state"] == "done"
    files = client.get(f"/api/jobs/{job['id']}/files").json()
    assert {"pour.mp4", "pour.jpg", "pour.json", "job.json"} <= set(files)
    video = client.get(f"/api/jobs/{job['id']}/files/pour.mp4")
    assert video.status_code == 200 and video.content == (folder / "pour.mp4").read_bytes()
    listed = client.get("/api/ads").json()
    assert [(a["job"], a["video"]) for a in listed] == [(job["id"], "pour.mp4")]
    # names are checked, then resolved inside the job's folder
    for name in ("..%2Fjob.json", "%2Fetc%2Fpasswd", "..%2F..%2F..%2Fserve.token"):
        answer = client.get(f"/api/jobs/{job['id']}/files/{name}")
        assert answer.status_code in (400, 404), (name, answer.text)
        assert "error" in answer.json()
    assert client.get(f"/api/jobs/..%2F{job['id']}/files/pour.mp4").status_code in (400, 404)


def test_paths_on_the_server_need_a_loopback_caller(client, tmp_path):
    # TestClient's peer is "testclient", not loopback: a path there is refused
    ad = {"product": PRODUCT, "selling_points": [SP_POUR], "out": str(tmp_path / "x.mp4")}
    answer = client.post("/api/jobs/ad", json=ad, headers=AUTH)
    assert answer.status_code == 400
    assert "accepted only from a loopback client" in answer.json()["error"]
    batch = {"jobs_file": "/etc/passwd"}
    assert client.post("/api/jobs/batch", json=batch, headers=AUTH).status_code == 400


def test_a_bad_ad_request_is_refused_before_it_is_queued(client, service):
    for bad, error in (({"format": "2:3"}, "format"), ({"name": "../ad.mp4"}, "not a valid id"),
                       ({"name": "ad.mov"}, "must end in .mp4"),
                       ({"options": {"fps": float("inf")}}, "")):
        ad = {"product": PRODUCT, "selling_points": [SP_POUR]} | bad
        answer = client.post("/api/jobs/ad", content=json.dumps(ad), headers=AUTH
                             | {"Content-Type": "application/json"})
        assert answer.status_code == 400, (bad, answer.text)
        assert error in answer.json()["error"]
    assert client.get("/api/jobs").json() == []
