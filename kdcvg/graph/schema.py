"""The ACKB schema: labels, keys, properties and relationships, in one place.

Every label and property name that reaches Cypher text comes from here, never
from user input; values always travel as parameters. `docs/data-model.md`
documents the same model with a diagram.
"""

from dataclasses import dataclass

from kdcvg.types import EdgeType

SCHEMA_VERSION = 1
EMBEDDING_DIM = 384  # all-MiniLM-L6-v2


@dataclass(frozen=True)
class NodeSpec:
    """One node label.

    Args:
        label: Cypher label.
        key: the unique id property.
        pyg: node type name in the exported `HeteroData`.
        required: properties an ingested row must carry (besides the key).
        optional: properties an ingested row may carry.
        text: property embedded into `embedding` (None: not embedded).
        computed: properties kdcvg sets itself (never read from curator files).
    """

    label: str
    key: str
    pyg: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    text: str | None
    computed: tuple[str, ...] = ("embedding", "created_at")


@dataclass(frozen=True)
class RelSpec:
    """One relationship type, between two labels."""

    type: str
    source: str
    target: str
    properties: tuple[str, ...] = ()

    @property
    def pyg(self) -> EdgeType:
        return (NODES[self.source].pyg, self.type.lower(), NODES[self.target].pyg)


NODES: dict[str, NodeSpec] = {
    spec.label: spec
    for spec in (
        NodeSpec("Product", "id", "product", ("name",), ("brand", "description", "category"),
                 text="description"),
        NodeSpec("Category", "name", "category", (), (), text="name"),
        NodeSpec("SellingPoint", "id", "selling_point", ("text", "product"), ("source",),
                 text="text"),
        NodeSpec("Clip", "id", "clip", ("uri", "caption"),
                 ("product", "duration_s", "fps", "width", "height"), text="caption",
                 # `kdcvg clips ingest` adds the motion descriptor (`motion`, a vector of
                 # kdcvg.media.motion.MOTION_FIELDS) and each field as `motion_<name>`.
                 computed=("embedding", "created_at", "motion", "content_hash", "thumb", "tags")),
        # `distortions`: the artefacts generators typically make of this motion
        # (short texts); MKR puts them in the negative prompt.
        NodeSpec("MotionPattern", "name", "motion_pattern", ("kind",),
                 ("description", "distortions"), text="description"),
    )
}

RELATIONSHIPS: dict[str, RelSpec] = {
    spec.type: spec
    for spec in (
        RelSpec("IN_CATEGORY", "Product", "Category"),
        RelSpec("HAS_SELLING_POINT", "Product", "SellingPoint"),
        RelSpec("SHOWS", "Clip", "Product"),
        RelSpec("EXPRESSES", "Clip", "SellingPoint", ("weight", "source")),
        RelSpec("HAS_MOTION", "Clip", "MotionPattern", ("score", "source")),
        RelSpec("SUGGESTS", "SellingPoint", "MotionPattern"),
    )
}

MOTION_KINDS = ("camera", "object")
LINK_SOURCES = ("curated", "learned", "auto")  # curated beats auto/learned on the same link
MAX_TEXT_CHARS = 2000
MAX_DISTORTIONS = 20  # per MotionPattern
