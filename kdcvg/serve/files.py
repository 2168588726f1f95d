"""Which files the web page may send: a clip, its keyframe sheet, a generated ad's files.

A request names an id, never a path. The path comes from the graph (a clip's `uri`
and `thumb`) or from the ads folder, and is resolved (links followed) and checked to
stay inside the folder it is named in, as `kdcvg.validation.safe_child` does:

- a clip's file: inside the folder its stored `uri` names, with a video or image
  suffix (a `uri` that links out of its folder, or names another kind of file, is
  refused);
- a keyframe sheet: inside `<store folder>/thumbs`, where `kdcvg clips ingest` writes them;
- an ad's file: `<store folder>/ads/<job>/<name>`, with a suffix a batch writes.

    >>> clip_file(store, "clip-1")                      # doctest: +SKIP
    PosixPath('/footage/clip-1.mp4')
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kdcvg.errors import NotFoundError
from kdcvg.media.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from kdcvg.validation import InputError, check_id, safe_child, shown

if TYPE_CHECKING:
    from kdcvg.graph.store import GraphReader

THUMBS = "thumbs"  # under the store folder (kdcvg.graph.clips writes the sheets there)
MEDIA_SUFFIXES = frozenset((*VIDEO_SUFFIXES, *IMAGE_SUFFIXES))
AD_SUFFIXES = frozenset((".mp4", ".jpg", ".json", ".html"))  # what a batch folder holds


class NotFound(NotFoundError):
    """The id names nothing, or its file is not there (404 on the API and the page)."""


def _clip_row(store: GraphReader, clip_id: str) -> dict[str, object]:
    check_id("clip", clip_id)
    rows = store.query("clip_media", clip=clip_id)
    if not rows:
        raise NotFound(f"clip {clip_id!r} does not exist")
    return rows[0]


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise NotFound(f"{what}: the file {path} is not there")
    return path


def clip_file(store: GraphReader, clip_id: str) -> Path:
    """The clip's video or still file, resolved inside the folder its `uri` names.

    Raises:
        InputError: a bad id, a `uri` that is not a local media file or leaves its folder.
        NotFound: no such clip, or its file is missing.
    """
    uri = _clip_row(store, clip_id).get("uri")
    if not isinstance(uri, str) or not uri or "://" in uri:
        raise InputError(f"clip {clip_id!r}: uri {shown(uri)} is not a local file")
    named = Path(uri)
    path = safe_child(named.parent, named.name)
    if path.suffix.lower() not in MEDIA_SUFFIXES:
        raise InputError(f"clip {clip_id!r}: {path.name!r} is not a video or image file "
                         f"(expected one of {', '.join(sorted(MEDIA_SUFFIXES))})")
    return _existing(path, f"clip {clip_id!r}")


def keyframe_file(store: GraphReader, clip_id: str, home: Path) -> Path:
    """The clip's keyframe sheet, resolved inside `<home>/thumbs`.

    Raises:
        InputError: a bad id, or a stored `thumb` outside `<home>/thumbs`.
        NotFound: no such clip, no sheet, or its file is missing.
    """
    thumb = _clip_row(store, clip_id).get("thumb")
    if not isinstance(thumb, str) or not thumb:
        raise NotFound(f"clip {clip_id!r} has no keyframe sheet (ingest it with "
                       "`kdcvg clips ingest`)")
    return _existing(safe_child(home / THUMBS, thumb), f"clip {clip_id!r} keyframes")


def is_still(uri: str) -> bool:
    """Whether a clip's `uri` names an image (shown as <img>, not <video>)."""
    return Path(uri).suffix.lower() in IMAGE_SUFFIXES


def ad_folders(ads_root: Path) -> list[Path]:
    """The batch output folders under `ads_root` whose names are ids, sorted by name."""
    if not ads_root.is_dir():
        return []
    out = []
    for folder in sorted(ads_root.iterdir()):
        try:
            check_id("job", folder.name)
        except InputError:
            continue
        if folder.is_dir():
            out.append(safe_child(ads_root, folder.name))
    return out


def ad_file(ads_root: Path, job: str, name: str) -> Path:
    """`<ads_root>/<job>/<name>`, resolved inside that job's folder.

    Raises:
        InputError: a bad job id or name, a suffix a batch does not write, or a path
            that leaves its folder.
        NotFound: the file is not there.
    """
    check_id("job", job)
    check_id("file", name)
    if Path(name).suffix.lower() not in AD_SUFFIXES:
        raise InputError(f"file: {name!r} is not an ad's file (expected one of "
                         f"{', '.join(sorted(AD_SUFFIXES))})")
    return _existing(safe_child(safe_child(ads_root, job), name), f"ad {job}/{name}")
