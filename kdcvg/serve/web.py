"""The web page for analysts and curators (`/`): server-rendered HTML, readable without JS.

Pages (templates in `templates/`, one stylesheet in `static/`, no script):

- `/`: a selling point (and optionally a product) in, the ranked clips out, each
  playing muted in a loop with its score, motion patterns and the neighbours that
  explain the match; a product alone lists its selling points to search;
- `/gaps`: the coverage gaps (named query `coverage_gaps`), each with SAR's top clips
  for its text and a button that links one (`POST /gaps/link`, the write token needed);
- `/queries`: every named analyst query as a form, `/queries/<name>` its rows;
- `/ads`: the generated ads under `<store folder>/ads`, with their report cards.

Clip files, keyframe sheets and ads' files are sent by `/media/...` and `/ads/...`
through the path checks of `kdcvg.serve.files`. Jinja escapes every value.

Writes need the write token, typed in the link form or remembered in a cookie set by
`POST /token` (HttpOnly, SameSite=Strict: another site's form cannot send it). The
token is a secret, so a cross-site form cannot forge a link. A server bound to another
interface than loopback (`Service.public`) shows nothing without the token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from kdcvg.errors import KdcvgError
from kdcvg.serve import files
from kdcvg.serve.state import TOKEN_NAME, Service
from kdcvg.validation import InputError, check_number, shown

router = APIRouter(include_in_schema=False)

TOKEN_COOKIE = "kdcvg_token"
DEFAULT_K = 8
MAX_K = 50
SUGGEST_K = 3  # clips suggested per coverage gap
GAPS_WITH_SUGGESTIONS = 25  # gaps past this many are listed without suggestions
FORM_MAX_BYTES = 64 * 1024
# No script, no inline style, nothing from elsewhere; forms post only here.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; "
                               "style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# A batch's report.html is kdcvg's own, with inline style and script: sandboxed, so it
# runs in an opaque origin (no cookie, no access to these pages).
REPORT_HEADERS = {
    "Content-Security-Policy": "sandbox allow-scripts; default-src 'none'; img-src 'self' "
                               "data:; media-src 'self'; style-src 'unsafe-inline'; "
                               "script-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}

_templates = jinja2.Environment(loader=jinja2.PackageLoader("kdcvg.serve", "templates"),
                                autoescape=True, undefined=jinja2.StrictUndefined,
                                trim_blocks=True, lstrip_blocks=True)


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _has_token(request: Request, presented: str | None = None) -> bool:
    """A valid token typed in a form, or remembered in the cookie."""
    service = _service(request)
    return service.token_matches(presented or None) or service.token_matches(
        request.cookies.get(TOKEN_COOKIE))


def _render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    values = {"path": request.url.path, "token_set": _has_token(request),
              "token_file": str(_service(request).home / TOKEN_NAME), "message": None,
              "error": None, **context}
    page = _templates.get_template(template).render(values)
    return HTMLResponse(page, status, headers=PAGE_HEADERS)


def locked(request: Request) -> HTMLResponse | None:
    """On a public server without the token: the token form (401), else None."""
    if _service(request).public and not _has_token(request):
        return _render(request, "token.html", 401, next=request.url.path,
                       error="this server is reachable beyond this machine: enter the "
                             "write token to use it")
    return None


@dataclass(frozen=True)
class Posted:
    """A posted form's fields, or why it could not be read."""

    fields: dict[str, str]
    problem: str | None = None

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


async def _form(request: Request) -> Posted:
    """An urlencoded form body (the page's forms post nothing else), at most 64 KiB."""
    body = await request.body()
    if len(body) > FORM_MAX_BYTES:
        return Posted({}, f"the form is {len(body)} bytes, the limit is {FORM_MAX_BYTES}")
    try:
        return Posted(dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)))
    except UnicodeDecodeError:
        return Posted({}, "the form is not UTF-8 text")


FormBody = Annotated[Posted, Depends(_form)]


def _k(value: str) -> int:
    if not value.strip():
        return DEFAULT_K
    try:
        number = int(value)
    except ValueError as e:
        raise InputError(f"k: {shown(value)} is not a whole number (1 to {MAX_K})") from e
    return int(check_number("k", number, int, 1, MAX_K))


def hit_view(hit: Any, rank: int) -> dict[str, Any]:
    """What the page shows of one `SarHit`."""
    clip = quote(hit.clip_id, safe="")
    return {"rank": rank, "clip_id": hit.clip_id, "score": f"{hit.score:.4f}",
            "caption": hit.caption, "still": files.is_still(hit.uri),
            "src": f"/media/clip/{clip}", "poster": f"/media/keyframe/{clip}",
            "motion": [(name, f"{score:.2f}") for name, score in hit.motion_patterns],
            "neighbours": [_neighbour_view(n) for n in hit.neighbours]}


def _neighbour_view(n: Any) -> dict[str, str]:
    return {"type": n.node_type.replace("_", " "), "key": n.key, "weight": f"{n.weight:.3f}",
            "text": n.text}


@router.get("/")
def search_page(request: Request, q: str = "", product: str = "", k: str = "") -> Response:
    """Ranked clips for a selling point; a product alone lists its selling points."""
    if (gate := locked(request)) is not None:
        return gate
    store = _service(request).store
    context: dict[str, Any] = {"q": q, "product": product, "k": k or str(DEFAULT_K),
                               "products": store.analyst_query("products"), "result": None,
                               "hits": [], "query_neighbours": [], "selling_points": None}
    try:
        if q.strip():
            result = _service(request).retriever().retrieve(q, product or None, None, _k(k))
            context.update(result=result, query_neighbours=[
                _neighbour_view(n) for n in result.query_neighbours],
                hits=[hit_view(h, i) for i, h in enumerate(result.hits, start=1)])
        elif product:
            context["selling_points"] = store.analyst_query("selling_points_of_product",
                                                            product=product)
    except KdcvgError as e:
        return _render(request, "search.html", 400, **{**context, "error": str(e)})
    return _render(request, "search.html", **context)


@router.get("/gaps")
def gaps_page(request: Request, linked: str = "", to: str = "") -> Response:
    """The coverage gaps, each with SAR's suggested clips and a link button."""
    if (gate := locked(request)) is not None:
        return gate
    service = _service(request)
    gaps = service.store.analyst_query("coverage_gaps")
    retriever, note = None, None
    try:
        retriever = service.retriever() if gaps else None
    except KdcvgError as e:
        note = f"no suggestions: {e}"
    shown = []
    for i, gap in enumerate(gaps):
        row = {**gap, "suggestions": [], "problem": None}
        if retriever is not None and i < GAPS_WITH_SUGGESTIONS:
            try:
                hits = retriever.retrieve(gap["text"] or "", gap["product"], None, SUGGEST_K).hits
                row["suggestions"] = [hit_view(h, r) for r, h in enumerate(hits, start=1)]
            except KdcvgError as e:
                row["problem"] = str(e)
        shown.append(row)
    message = f"linked {linked} to {to}" if linked and to else None
    return _render(request, "gaps.html", gaps=shown, note=note, message=message,
                   more=max(0, len(gaps) - GAPS_WITH_SUGGESTIONS))


@router.post("/gaps/link")
def link_gap(request: Request, form: FormBody) -> Response:
    """Link a clip to a selling point (curated, weight 1), as `kdcvg graph link` does.

    Without a valid token nothing is written and the page says why (403).
    """
    from kdcvg.graph.curate import link_clip

    service = _service(request)
    if not _has_token(request, form.get("token")):
        return _render(request, "message.html", 403, error=(
            "linking needs the write token: enter it above or in the link form (it is in "
            f"{service.home / TOKEN_NAME}); nothing was linked"))
    if form.problem is not None:
        return _render(request, "message.html", 400, error=form.problem)
    clip, selling_point = form.get("clip"), form.get("selling_point")
    try:
        link_clip(service.store, clip, selling_point)
    except KdcvgError as e:
        return _render(request, "message.html", 400, error=str(e))
    service.note_write()
    return RedirectResponse("/gaps?" + urlencode({"linked": clip, "to": selling_point}), 303)


@router.post("/token")
def enter_token(request: Request, form: FormBody) -> Response:
    """Remember the write token in an HttpOnly, SameSite=Strict cookie."""
    target = form.get("next", "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"  # only a page of this server
    token = form.get("token")
    if not _service(request).token_matches(token or None):
        return _render(request, "token.html", 403, next=target,
                       error="that is not this server's write token; nothing was remembered")
    response = RedirectResponse(target, 303)
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
    return response


@router.post("/token/forget")
def forget_token() -> Response:
    """Drop the remembered token."""
    response = RedirectResponse("/", 303)
    response.delete_cookie(TOKEN_COOKIE, httponly=True, samesite="strict")
    return response


@router.get("/queries")
def queries_page(request: Request) -> Response:
    """Every named analyst query as a form."""
    from kdcvg.graph.store import analyst_queries

    if (gate := locked(request)) is not None:
        return gate
    return _render(request, "queries.html", queries=analyst_queries())


@router.get("/queries/{name}")
def query_page(request: Request, name: str) -> Response:
    """One named analyst query's rows (an internal query is refused, as the CLI does)."""
    import typer

    from kdcvg.cli_options import parse_pairs
    from kdcvg.errors import QueryError
    from kdcvg.graph.store import analyst_queries, load_analyst_query

    if (gate := locked(request)) is not None:
        return gate
    context: dict[str, Any] = {"queries": analyst_queries(), "name": name, "values": {},
                               "columns": [], "rows": None}
    try:
        query = load_analyst_query(name, _service(request).store.flavor)
        values = {p: request.query_params.get(p, "") for p in query.params}
        context["values"] = values
        missing = [p for p, v in values.items() if not v.strip()]
        if missing:
            raise QueryError(f"query {name} needs a value for: {', '.join(missing)}")
        try:
            params = parse_pairs([f"{p}={v}" for p, v in values.items()], "param", lists=True)
        except typer.BadParameter as e:
            raise InputError(e.message) from e
        rows = _service(request).store.analyst_query(name, **params)
    except KdcvgError as e:
        return _render(request, "queries.html", 400, **{**context, "error": str(e)})
    columns = list(dict.fromkeys(c for row in rows for c in row))
    context.update(columns=columns, rows=[[_cell(row.get(c)) for c in columns] for row in rows])
    return _render(request, "queries.html", **context)


def _cell(value: Any) -> str:
    """A table cell's text: numbers short, lists and maps as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


@router.get("/ads")
def ads_page(request: Request) -> Response:
    """The generated ads, one section per batch folder, with links to their files."""
    if (gate := locked(request)) is not None:
        return gate
    batches = [_batch_view(folder) for folder in files.ad_folders(_service(request).ads_root)]
    return _render(request, "ads.html", batches=batches,
                   ads_root=str(_service(request).ads_root))


def _batch_view(folder: Any) -> dict[str, Any]:
    """One batch folder: its jobs' states (manifest) and its ads (sidecars)."""
    from kdcvg.generation.batch import MANIFEST
    from kdcvg.generation.report import REPORT_NAME, load_sidecars

    job = folder.name
    base = f"/ads/{quote(job, safe='')}/"
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        states = _mapping(manifest).get("jobs")
    except (OSError, ValueError):
        states = {}
    ads = []
    for sidecar, record in load_sidecars(folder):
        if sidecar.parent != folder.resolve():
            continue  # the routes send files of the batch folder itself only
        video = str(record.get("video") or f"{sidecar.stem}.mp4")
        product, job_rec, metrics = (_mapping(record.get(k)) for k in ("product", "job", "metrics"))
        ads.append({"id": sidecar.stem, "product": product.get("name", ""),
                    "format": job_rec.get("format", ""), "backend": job_rec.get("backend", ""),
                    "video": base + quote(video, safe=""),
                    "poster": base + quote(f"{sidecar.stem}.jpg", safe=""),
                    "sidecar": base + quote(sidecar.name, safe=""),
                    "metrics": [(k, _cell(v)) for k, v in metrics.items()
                                if isinstance(v, int | float | str)]})
    return {"job": job, "report": base + REPORT_NAME if (folder / REPORT_NAME).is_file() else None,
            "ads": ads, "states": [(k, str(_mapping(v).get("state") or ""),
                                    str(_mapping(v).get("error") or ""))
                                   for k, v in sorted(_mapping(states).items())]}


def _mapping(value: Any) -> dict[str, Any]:
    """A sidecar's field when it is an object (a crafted sidecar may hold anything)."""
    return value if isinstance(value, dict) else {}


def _send(request: Request, find: Any, *args: Any, headers: dict[str, str] | None = None
          ) -> Response:
    """A file the `files` checks allow; a refusal is 403, a missing file 404 (one line)."""
    if (gate := locked(request)) is not None:
        return gate
    try:
        path = find(*args)
    except files.NotFound as e:
        return Response(str(e), 404, media_type="text/plain")
    except InputError as e:
        return Response(str(e), 403, media_type="text/plain")
    return FileResponse(path, headers={"X-Content-Type-Options": "nosniff", **(headers or {})})


@router.get("/media/clip/{clip_id}")
def clip_media(request: Request, clip_id: str) -> Response:
    """A clip's video (or a still's image) file."""
    return _send(request, files.clip_file, _service(request).store, clip_id)


@router.get("/media/keyframe/{clip_id}")
def keyframe_media(request: Request, clip_id: str) -> Response:
    """A clip's keyframe sheet (the video's poster)."""
    service = _service(request)
    return _send(request, files.keyframe_file, service.store, clip_id, service.home)


@router.get("/ads/{job}/{name}")
def ad_media(request: Request, job: str, name: str) -> Response:
    """A generated ad's file: its MP4, poster, sidecar, or the batch's report.html."""
    headers = REPORT_HEADERS if name.endswith(".html") else None
    return _send(request, files.ad_file, _service(request).ads_root, job, name,
                 headers=headers)


@router.get("/static/web.css")
def stylesheet() -> Response:
    """The page's one stylesheet."""
    css = resources.files("kdcvg.serve").joinpath("static/web.css").read_bytes()
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})
