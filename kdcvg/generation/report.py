"""A self-contained HTML page reviewing a folder of generated ads.

One card per ad (found by its JSON sidecar): the player, the selling points, the
retrieved reference clips with thumbnails and scores, the quality metrics and the
full provenance. Styles, script, posters and thumbnails are inline; the videos are
linked by relative path, so the page works from the folder it is written into
(or from any folder, since links are made relative to the page).

A small script marks each video `data-state="loaded"` or `"error"` and sets the
page's `data-media` to `"ok N/N"` or `"broken K/N"` once every video has settled;
the report test reads that from headless Chromium.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kdcvg.errors import GenerationError
from kdcvg.generation.outputs import SIDECAR_SCHEMA, now_iso

REPORT_NAME = "report.html"
METRICS = (("dynamic_degree", "Dynamic degree"), ("motion_smoothness", "Motion smoothness"),
           ("temporal_consistency", "Temporal consistency"), ("motion_fidelity", "Motion fidelity"),
           ("clip_score", "CLIP score"))

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f4f4f6;
color:#1b1b1f}
header{padding:20px 28px;background:#1b1b1f;color:#fff}header h1{margin:0;font-size:22px}
header p{margin:6px 0 0;color:#c8c8d0;font-size:14px}
main{display:flex;flex-wrap:wrap;gap:20px;padding:24px}
.card{background:#fff;border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.12);padding:16px;
width:560px;display:flex;flex-direction:column;gap:10px}
.top{display:flex;gap:14px}
.top video{width:220px;max-height:392px;background:#000;border-radius:8px}
.top .facts{flex:1;font-size:13px}.facts h2{font-size:16px;margin:0 0 6px}
ol.sp{margin:4px 0 8px 18px;padding:0}ol.sp li{margin:2px 0}
table{border-collapse:collapse;font-size:13px;width:100%}td,th{padding:3px 6px;text-align:left;
border-bottom:1px solid #eee}td.num{text-align:right;font-variant-numeric:tabular-nums}
.refs{display:flex;flex-wrap:wrap;gap:8px}.ref{width:128px;font-size:11px}
.ref img{width:128px;height:72px;object-fit:cover;border-radius:6px;background:#ddd;display:block}
.muted{color:#777}.fallback{color:#a15c00;font-size:12px}
details pre{font-size:11px;max-height:260px;overflow:auto;background:#f7f7f9;
padding:8px;border-radius:6px}
video[data-state=error]{outline:3px solid #d33}
"""

_SCRIPT = """
(function(){
  var vids=Array.prototype.slice.call(document.querySelectorAll('video'));
  var total=vids.length, settled=0, broken=0;
  function done(){
    document.body.setAttribute('data-media', broken ? ('broken '+broken+'/'+total)
                                                      : ('ok '+total+'/'+total));
  }
  if(!total){done();return;}
  vids.forEach(function(v){
    function mark(state){
      if(v.getAttribute('data-state')!=='pending')return;
      v.setAttribute('data-state',state); settled++; if(state==='error')broken++;
      if(settled===total)done();
    }
    v.addEventListener('loadeddata',function(){mark('loaded');});
    v.addEventListener('error',function(){mark('error');},true);
    var s=v.querySelector('source'); if(s)s.addEventListener('error',function(){mark('error');});
    if(v.readyState>=2)mark('loaded');
    v.load();
  });
})();
"""


def _e(value: Any) -> str:
    """Any value as HTML text: every value taken from a sidecar goes through here."""
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 3) -> str:
    """A number with `digits` decimals, or the value escaped when it is not a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.{digits}f}"
    return _e(value)


def _fmt(value: Any) -> str:
    if value is None:
        return '<span class="muted">not computed</span>'
    if isinstance(value, float):
        return f"{value:.3f}"
    return _e(value)


def _url(path: Path, page_dir: Path) -> str:
    """A relative URL to `path`: each segment percent-encoded (':' too, so no name reads as
    a scheme such as `javascript:`)."""
    return _e("/".join(quote(part, safe="") for part in Path(os.path.relpath(path, page_dir)).parts))


def _image(uri: Any) -> str | None:
    """A thumbnail only when it is an inline JPEG or PNG (what kdcvg writes), else None."""
    if isinstance(uri, str) and uri.startswith(("data:image/jpeg;base64,",
                                                "data:image/png;base64,")):
        return _e(uri)
    return None


def load_sidecars(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every ad sidecar in `folder` (and one level below), sorted by path."""
    found = []
    for path in sorted([*folder.glob("*.json"), *folder.glob("*/*.json")]):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("schema") == SIDECAR_SCHEMA:
            found.append((path, record))
    return found


def _fallback_note(scene: dict[str, Any]) -> str:
    """The line under a scene that fell back: to what, and why."""
    kind = {"still": "a photo of the product", "text": "a designed text scene"}.get(
        scene.get("fallback") or "")
    if kind is None:
        return ""
    return (f"<br><span class='fallback'>fell back to {kind}: "
            f"{_e(scene.get('fallback_reason', ''))}</span>")


def _card(sidecar: Path, record: dict[str, Any], page_dir: Path) -> str:
    """One ad's card. Every value from the sidecar is escaped (`_e`, `_num`, `_url`): a
    crafted JSON in the folder must not inject markup or script into the page."""
    video = sidecar.with_name(str(record["video"]))
    poster = sidecar.with_name(str(record.get("poster") or f"{video.stem}.jpg"))
    src = _url(video, page_dir)
    poster_src = _url(poster, page_dir) if poster.is_file() else ""
    job, product, out = record["job"], record["product"], record["output"]
    metrics = record.get("metrics", {})
    sps = "".join(f"<li>{_e(s['text'])} <span class='muted'>{_e(s['selling_point_id'] or '')}"
                  f"</span>{_fallback_note(s)}</li>" for s in record.get("scenes", []))
    rows = "".join(f"<tr><td>{label}</td><td class='num'>{_fmt(metrics.get(key))}</td></tr>"
                   for key, label in METRICS)
    refs = []
    for i, scene in enumerate(record.get("scenes", [])):
        for rank, ref in enumerate(scene["references"]):
            thumb = _image(ref.get("thumbnail"))
            img = f"<img src='{thumb}' alt='{_e(ref['clip_id'])}'>" if thumb else \
                "<img alt='missing'>"
            patterns = ", ".join(f"{n} {_num(s, 2)}" for n, s in ref.get("motion_patterns", [])[:2])
            used = " (used)" if rank == 0 else ""
            refs.append(f"<div class='ref'>{img}<b>{_e(ref['clip_id'])}</b>{used}<br>scene {i + 1}"
                        f", score {_num(ref['score'])}<br><span class='muted'>{_e(patterns)}"
                        "</span></div>")
    provenance = {k: v for k, v in record.items() if k != "scenes"}
    provenance["scenes"] = [
        {**s, "references": [{k: v for k, v in r.items() if k != "thumbnail"}
                             for r in s["references"]]} for s in record.get("scenes", [])
    ]
    width, height = out["size"]
    return f"""
<section class="card" id="{_e(video.stem)}">
 <div class="top">
  <video controls muted playsinline preload="auto" data-state="pending"
   poster="{poster_src}"><source src="{src}" type="video/mp4"></video>
  <div class="facts">
   <h2>{_e(product['name'])} <span class="muted">{_e(product.get('brand', ''))}</span></h2>
   <div class="muted">{_e(video.name)} · {_e(job['format'])} · {_e(width)}x{_e(height)}
    · {_e(out['duration_s'])} s · {_e(job['backend'])} · seed {_e(job['seed'])}</div>
   <ol class="sp">{sps}</ol>
   <table>{rows}</table>
  </div>
 </div>
 <div><b>Retrieved references</b> <span class="muted">({_e(record.get('references', {})
   .get('source', ''))})</span><div class="refs">{''.join(refs)}</div></div>
 <details><summary>Provenance</summary><pre>{_e(json.dumps(provenance, indent=1))}</pre></details>
</section>"""


def _unreadable_card(sidecar: Path, error: Exception) -> str:
    """The card of a sidecar that has the ad schema but not its shape."""
    return (f'\n<section class="card"><h2>{_e(sidecar.name)}</h2><p class="muted">not shown: '
            f"the sidecar is malformed ({_e(type(error).__name__)}: {_e(error)})</p></section>")


def _card_or_note(sidecar: Path, record: dict[str, Any], page_dir: Path) -> str:
    try:
        return _card(sidecar, record, page_dir)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        return _unreadable_card(sidecar, e)


def render_report(folder: Path, page_dir: Path) -> tuple[str, int]:
    """The report's HTML for the ads in `folder`, links relative to `page_dir`."""
    ads = load_sidecars(folder.resolve())
    cards = "".join(_card_or_note(p, r, page_dir) for p, r in ads)
    if not ads:
        cards = "<p>No generated ads in this folder.</p>"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>kdcvg ads: {_e(folder.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body data-media="pending"><header><h1>Generated ads: {_e(folder.name)}</h1>
<p>{len(ads)} ads · written {_e(now_iso())} by kdcvg generate report</p></header>
<main>{cards}</main><script>{_SCRIPT}</script></body></html>
"""
    return page, len(ads)


def write_report(folder: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
                 ) -> tuple[Path, int]:
    """Write the report (default `folder/report.html`) atomically; returns (path, ads).

    Raises:
        GenerationError: the folder is missing or the page cannot be written.
    """
    src = Path(folder)
    if not src.is_dir():
        raise GenerationError(f"report folder {src} does not exist")
    path = Path(out) if out is not None else src / REPORT_NAME
    page, count = render_report(src, path.parent.resolve())
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        raise GenerationError(f"cannot write report {path} ({e.strerror})") from e
    finally:
        tmp.unlink(missing_ok=True)
    return path, count
