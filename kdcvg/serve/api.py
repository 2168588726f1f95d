"""The JSON API (`/api/...`): read, curate and generate, with the CLI's validation.

Every route calls the library function its CLI command calls, so a request is checked
and written exactly as the command would (one transaction, the same one-line errors).
Answers are JSON; an error is `{"error": "<the CLI's one-line message>"}` with 400 (bad
input), 401/403 (token), 404 (unknown id), 409 (conflict), 503 (busy or the graph
server unreachable); see `kdcvg.serve.app`. Reads are open on loopback; writes need
the token (`kdcvg.serve.auth`). The interactive documentation is at `/docs`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from kdcvg.errors import NotFoundError, QueryError
from kdcvg.serve import files
from kdcvg.serve.auth import local_caller, require_token
from kdcvg.serve.state import Service
from kdcvg.validation import (
    OPTION_KEY,
    InputError,
    check_id,
    check_option_value,
    check_options,
    check_text,
    safe_child,
    shown,
)


class KdcvgJSON(JSONResponse):
    """JSON as the CLI prints it: NaN and infinities kept (as Python's json writes them),
    values JSON has no type for (dates of the graph) as text."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=str, ensure_ascii=False).encode("utf-8")


router = APIRouter(prefix="/api", default_response_class=KdcvgJSON)
WRITE = [Depends(require_token)]


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


@router.get("/health")
def health(request: Request) -> dict[str, Any]:
    """Liveness, and which store this server serves (the CLI checks it before forwarding)."""
    service = service_of(request)
    return {"ok": True, "store": service.identity, "public": service.public,
            "retrieval": service.batcher.stats()}


# -- retrieval -------------------------------------------------------------------------------

class RetrieveRequest(BaseModel):
    text: str = Field(description="Selling-point text (may be new to the graph).")
    product: str | None = Field(None, description="Product id the text belongs to.")
    category: str | None = Field(None, description="Category name.")
    k: int = Field(10, ge=1, le=1000, description="Clips to return.")


def retrieve_result(service: Service, body: RetrieveRequest) -> dict[str, Any]:
    """What `kdcvg sar retrieve --json` prints, with `timing.retrieve_ms` (no wall time):
    the time of the retrieval that answered it, shared with the requests batched with it."""
    from kdcvg.retrieval.retrieve import SarQuery, result_dict

    text = check_text("text", body.text, multiline=False)
    product = check_id("product", body.product) if body.product is not None else None
    category = (check_text("category", body.category, multiline=False)
                if body.category is not None else None)
    answer = service.batcher.retrieve(service.retriever(), SarQuery(text, product, category,
                                                                    body.k))
    return result_dict(answer.result) | {"timing": {"retrieve_ms": round(answer.retrieve_ms, 3)}}


@router.post("/retrieve")
def retrieve(body: RetrieveRequest, request: Request) -> dict[str, Any]:
    """Ranked clips for a selling point, with the neighbours that explain each (SAR)."""
    return retrieve_result(service_of(request), body)


# -- analyst reads ---------------------------------------------------------------------------

@router.get("/queries")
def queries() -> list[dict[str, Any]]:
    """The named analyst queries: name, parameters, what they return."""
    from kdcvg.graph.store import analyst_queries

    return [{"name": q.name, "params": list(q.params), "returns": q.description}
            for q in analyst_queries()]


class QueryRequest(BaseModel):
    params: dict[str, Any] = Field(default_factory=dict, description="Parameter values.")


def _params(params: dict[str, Any]) -> dict[str, Any]:
    """Query parameters by the `-p k=v` rules: option values, or lists of them."""
    out = {}
    for key, value in params.items():
        if not OPTION_KEY.fullmatch(key):
            raise InputError(f"params: {shown(key)} is not a name (letters, digits and '_', "
                             "at most 64)")
        out[key] = ([check_option_value(f"{key}: item {i}", v) for i, v in enumerate(value, 1)]
                    if isinstance(value, list) else check_option_value(key, value))
    return out


@router.post("/queries/{name}")
def run_query(name: str, body: QueryRequest, request: Request) -> dict[str, Any]:
    """Run a named analyst query as the read-only analyst; its rows."""
    from kdcvg.graph.queries import list_queries
    from kdcvg.graph.store import check_analyst_params

    params = _params(body.params)
    try:
        check_analyst_params(name, params)
    except QueryError as e:
        if name not in {q.name for q in list_queries()}:
            raise NotFoundError(str(e)) from e
        raise
    return {"rows": service_of(request).store.analyst_query(name, **params)}


class CypherRequest(BaseModel):
    text: str = Field(description="Read-only Cypher.")
    params: dict[str, Any] = Field(default_factory=dict)


@router.post("/cypher")
def cypher(body: CypherRequest, request: Request) -> dict[str, Any]:
    """Ad-hoc Cypher on the analyst surface (the graph server refuses writes)."""
    return {"rows": service_of(request).store.cypher(body.text, _params(body.params))}


@router.get("/stats")
def stats(request: Request) -> dict[str, Any]:
    """Counts per label and relationship type, and embedding coverage."""
    result: dict[str, Any] = service_of(request).store.stats()
    return result


@router.get("/clips/{clip_id}")
def clip(clip_id: str, request: Request) -> dict[str, Any]:
    """A clip's metadata: caption, file, product, motion patterns, selling points."""
    rows = service_of(request).store.query("clip_detail", clip=check_id("clip", clip_id))
    if not rows:
        raise NotFoundError(f"no clip {clip_id!r} in the graph")
    row: dict[str, Any] = rows[0]
    return row


@router.get("/clips/{clip_id}/keyframes")
def keyframes(clip_id: str, request: Request) -> FileResponse:
    """The clip's keyframe sheet (JPEG), from `<store folder>/thumbs/`."""
    service = service_of(request)
    return FileResponse(files.keyframe_file(service.store, clip_id, service.home),
                        media_type="image/jpeg")


# -- curation --------------------------------------------------------------------------------

class SellingPointRequest(BaseModel):
    product: str = Field(description="Product id.")
    text: str = Field(description="The selling point, as an ad would say it.")
    force: bool = Field(False, description="Add even if a near-duplicate exists.")
    threshold: float = Field(0.92, ge=0.0, le=1.0, description="Near-duplicate cosine.")


@router.post("/selling-points", dependencies=WRITE)
def add_selling_point(body: SellingPointRequest, request: Request) -> dict[str, Any]:
    """Add a selling point to a product; near-duplicates are refused unless `force`."""
    from kdcvg.graph.curate import add_selling_point as add
    from kdcvg.graph.embeddings import default_embedder

    service = service_of(request)
    added = add(service.store, default_embedder(), body.product, body.text, force=body.force,
                threshold=body.threshold)
    service.note_write()
    return {"id": added.id, "nearest": added.nearest, "similarity": added.similarity}


class LinkRequest(BaseModel):
    clip: str = Field(description="Clip id.")
    selling_point: str = Field(description="SellingPoint id.")
    weight: float = Field(1.0, ge=0.0, le=1.0)


@router.post("/links", dependencies=WRITE)
def link(body: LinkRequest, request: Request) -> dict[str, Any]:
    """Curate `(clip)-[:EXPRESSES {weight, source: curated}]->(selling point)`."""
    from kdcvg.graph.curate import link_clip

    service = service_of(request)
    link_clip(service.store, body.clip, body.selling_point, body.weight)
    service.note_write()
    return {"clip": body.clip, "selling_point": body.selling_point, "weight": body.weight}


class FeedbackRequest(BaseModel):
    name: str = Field("feedback.jsonl", description="The file's name: .csv reads as CSV, "
                      "anything else as JSONL; problems are reported against it.")
    text: str = Field(description="The feedback file's content.")


@router.post("/feedback", dependencies=WRITE)
def feedback(body: FeedbackRequest, request: Request) -> dict[str, Any]:
    """Record user feedback (as `kdcvg sar feedback`): well-rated pairs count as links."""
    from kdcvg.retrieval.feedback import append_feedback, parse_feedback
    from kdcvg.retrieval.model import sar_dir

    service = service_of(request)
    clips = {r["clip"] for r in service.store.query("sar_clip_texts")}
    sps = {r["selling_point"] for r in service.store.query("sar_selling_point_texts")}
    rows = parse_feedback(body.name, body.text, clips, sps)
    path = append_feedback(sar_dir(service.home), rows)
    service.note_write()
    return {"recorded": len(rows), "path": str(path)}


# -- generation ------------------------------------------------------------------------------

class AdRequest(BaseModel):
    product: str
    selling_points: list[str] = Field(description="Selling point ids or texts, one scene each.")
    format: str = "9:16"
    duration: int = 6
    seed: int = 0
    backend: str = "compose"
    size: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    references: str = "auto"
    strict: bool = False
    name: str = Field("ad.mp4", description="File name of the MP4 (poster and sidecar beside).")
    out: str | None = Field(None, description="Absolute .mp4 path on the server's machine "
                            "(loopback callers with the token in the header only).")
    clip_model: str | None = Field(None, description="Local CLIP folder (as `out`).")


def _local(request: Request, field: str, value: str | None) -> Path | None:
    """A server-side path a request names, when the caller may name one."""
    if value is None:
        return None
    if not local_caller(request):
        raise InputError(f"{field}: a path on the server's machine is accepted only from a "
                         "loopback client presenting the token in its Authorization header")
    path = Path(value)
    if not path.is_absolute():
        raise InputError(f"{field}: {value!r} is not an absolute path")
    return path


@router.post("/jobs/ad", dependencies=WRITE, status_code=202)
def submit_ad(body: AdRequest, request: Request) -> dict[str, Any]:
    """Queue one ad; poll `GET /api/jobs/{id}`, then fetch its files."""
    from kdcvg.generation.pipeline import check_ad
    from kdcvg.serve.jobs import ad_job

    service = service_of(request)
    req = body.model_dump()
    req["product"] = check_id("product", body.product)
    req["selling_points"] = [check_text("selling_points", s, multiline=False)
                             for s in body.selling_points]
    req["options"] = check_options("options", body.options)
    out = _local(request, "out", body.out)
    clip_model = _local(request, "clip_model", body.clip_model)
    req["clip_model"] = str(clip_model) if clip_model else None
    if out is not None:
        req["name"] = out.name
        check_ad(ad_job(req), out, body.size)
    else:
        name = check_id("name", body.name)
        service.ads_root.mkdir(parents=True, exist_ok=True)
        check_ad(ad_job(req), safe_child(service.ads_root, name), body.size)
    req.pop("out")
    return service.jobs.submit("ad", req, out.parent if out is not None else None)


class BatchRequest(BaseModel):
    jobs: list[dict[str, Any]] | None = Field(None, description="Job rows, as in a job file.")
    jobs_file: str | None = Field(None, description="Absolute job-file path on the server's "
                                  "machine (loopback callers with the token in the header).")
    out: str | None = Field(None, description="Absolute output folder (as `jobs_file`).")
    workers: int = Field(1, ge=1, le=64)
    skip_bad: bool = False
    references: str = "auto"
    strict: bool = False
    clip_model: str | None = None


@router.post("/jobs/batch", dependencies=WRITE, status_code=202)
def submit_batch(body: BatchRequest, request: Request) -> dict[str, Any]:
    """Queue a batch (`generate batch`): rows, or a job file on the server's machine."""
    service = service_of(request)
    if (body.jobs is None) == (body.jobs_file is None):
        raise InputError("give either jobs (a list of job rows) or jobs_file")
    req = body.model_dump()
    jobs_file = _local(request, "jobs_file", body.jobs_file)
    out = _local(request, "out", body.out)
    clip_model = _local(request, "clip_model", body.clip_model)
    req.update(jobs_file=str(jobs_file) if jobs_file else None,
               clip_model=str(clip_model) if clip_model else None, jobs=None)
    req.pop("out")
    job = service.jobs.submit("batch", req, out)
    if body.jobs is not None:
        service.jobs.write_rows(job["id"], body.jobs)
    return job


@router.get("/jobs")
def jobs(request: Request) -> list[dict[str, Any]]:
    """Every job of this server, newest first (without results)."""
    return service_of(request).jobs.all()


@router.get("/jobs/{job_id}")
def job(job_id: str, request: Request, wait: float = 0.0) -> dict[str, Any]:
    """A job's state, and its result once done; `wait=S` waits up to S seconds for it."""
    queue = service_of(request).jobs
    if not math.isfinite(wait):
        raise InputError(f"wait: {wait} is not a finite number of seconds")
    return queue.wait(job_id, wait) if wait > 0 else queue.get(job_id)


@router.get("/jobs/{job_id}/files")
def job_files(job_id: str, request: Request) -> list[str]:
    """The files a job wrote in its folder."""
    folder = _job_folder(service_of(request), job_id)
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


@router.get("/jobs/{job_id}/files/{name}")
def job_file(job_id: str, name: str, request: Request) -> FileResponse:
    """One file of a job (an MP4, a poster, a sidecar, the manifest)."""
    path = safe_child(_job_folder(service_of(request), job_id), check_id("name", name))
    if not path.is_file():
        raise NotFoundError(f"job {job_id} has no file {name!r}")
    return FileResponse(path)


def _job_folder(service: Service, job_id: str) -> Path:
    job = service.jobs.get(check_id("job", job_id))
    if job.get("caller_folder"):
        raise NotFoundError(f"job {job_id} wrote to its caller's folder, not the server's")
    return service.jobs.folder(job_id)


@router.get("/ads")
def ads(request: Request) -> list[dict[str, Any]]:
    """The generated ads under the server's ads folder: job, files and sidecar summary."""
    service = service_of(request)
    out = []
    if service.ads_root.is_dir():
        for sidecar in sorted(service.ads_root.glob("*/*.json")):
            try:
                record = json.loads(sidecar.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not isinstance(record, dict) or "video" not in record:
                continue  # job.json, manifest.json
            out.append({"job": sidecar.parent.name, "sidecar": sidecar.name,
                        "video": record.get("video"), "poster": record.get("poster"),
                        "product": record.get("job", {}).get("product"),
                        "selling_points": record.get("job", {}).get("selling_points"),
                        "metrics": record.get("metrics"), "created_at": record.get("created_at")})
    return out

