"""The motion vocabulary: every `MotionPattern` node the project knows, as data.

`detectable=True` patterns are the labels of the classifier in
`kdcvg.media.motion` (`DETECTABLE_PATTERNS`); the others are the creative
vocabulary (orbit, unbox, spray, ...), linked only by curators. Clip ingest adds
the pattern node of a detected pattern the graph lacks from here; the demo
catalogue writes all of them. Names are node keys: add entries, never rename one.
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MotionPatternSpec:
    """One motion pattern (a `MotionPattern` node).

    Args:
        name: node key, snake_case.
        kind: "camera" or "object".
        description: one sentence; embedded as the node's text.
        detectable: True when the motion classifier can output it.
        distortions: artefacts video generators typically make of this motion
            (short texts); MKR adds them to the negative prompt.
    """

    name: str
    kind: str
    description: str
    detectable: bool
    distortions: tuple[str, ...] = ()

    def row(self) -> dict[str, Any]:
        """The `MotionPattern` node row, as `IngestBatch.add_node` takes it."""
        row: dict[str, Any] = {"name": self.name, "kind": self.kind,
                               "description": self.description}
        if self.distortions:
            row["distortions"] = list(self.distortions)
        return row


MOTION_PATTERNS: tuple[MotionPatternSpec, ...] = (
    # what the classifier detects: camera motion (the whole frame moves) ...
    MotionPatternSpec(
        "static", "camera", "A locked-off shot where almost nothing moves.", True,
        distortions=("frozen frames", "jittering background", "flickering edges"),
    ),
    MotionPatternSpec(
        "pan_left",
        "camera",
        "The camera turns left, so the scene slides to the right across the frame.",
        True,
        distortions=("smeared background", "objects sliding independently", "stretched edges"),
    ),
    MotionPatternSpec(
        "pan_right",
        "camera",
        "The camera turns right, so the scene slides to the left across the frame.",
        True,
        distortions=("smeared background", "objects sliding independently", "stretched edges"),
    ),
    MotionPatternSpec(
        "tilt_up", "camera", "The camera tilts up, so the scene moves down through the frame.", True,
        distortions=("bent vertical lines", "stretched background", "floating objects"),
    ),
    MotionPatternSpec(
        "tilt_down",
        "camera",
        "The camera tilts down, so the scene moves up through the frame.",
        True,
        distortions=("bent vertical lines", "stretched background", "floating objects"),
    ),
    MotionPatternSpec(
        "zoom_in",
        "camera",
        "The camera zooms in or pushes toward the product; it grows from the centre.",
        True,
        distortions=("product melting as it grows", "blurry close-up", "changing product shape"),
    ),
    MotionPatternSpec(
        "zoom_out",
        "camera",
        "The camera zooms out or pulls back to reveal the product in its setting.",
        True,
        distortions=("product shrinking unevenly", "background morphing", "duplicated products"),
    ),
    MotionPatternSpec(
        "rotate", "camera", "The camera rolls around its axis so the whole frame rotates.", True,
        distortions=("warped horizon", "twisted objects", "stretched corners"),
    ),
    MotionPatternSpec(
        "shake", "camera", "Handheld camera shake: small irregular jolts of the whole frame.", True,
        distortions=("wobbling product", "motion smear", "rubbery edges"),
    ),
    # ... and object motion (a region moves against a still background)
    MotionPatternSpec(
        "pour", "object", "Liquid or pieces pour or fall downward in one region of the frame.", True,
        distortions=("liquid floating upward", "liquid passing through the glass",
                     "splash outside the glass", "glass filling without a stream"),
    ),
    MotionPatternSpec(
        "rise",
        "object",
        "Something rises in one region: a lid lifting, mist or bubbles going up.",
        True,
        distortions=("bubbles falling down", "lid merging with the product", "smoke frozen in place"),
    ),
    MotionPatternSpec(
        "spin", "object", "An object spins in place, turning around its own centre.", True,
        distortions=("label changing while spinning", "object changing shape", "wobbling axis"),
    ),
    MotionPatternSpec(
        "slide", "object", "Objects slide sideways across the frame, as on a conveyor belt.", True,
        distortions=("objects merging together", "objects popping in and out", "sliding backwards"),
    ),
    MotionPatternSpec(
        "periodic",
        "object",
        "Regular back-and-forth motion that repeats, like a pendulum or a pulse.",
        True,
        distortions=("irregular jerky rhythm", "stretching during the swing", "sudden jumps"),
    ),
    # the creative vocabulary: linked by curators, not detected
    MotionPatternSpec(
        "orbit",
        "camera",
        "The camera circles around the product to show it from every side.",
        False,
        distortions=("product changing from side to side", "inconsistent back of the product",
                     "spinning background"),
    ),
    MotionPatternSpec(
        "reveal", "camera", "The camera moves to uncover the product from behind something.", False,
        distortions=("product appearing out of nowhere", "occluder melting into the product"),
    ),
    MotionPatternSpec(
        "unbox", "object", "A package opens to reveal the product inside.", False,
        distortions=("box merging with the product", "lid passing through the box",
                     "product growing out of the box"),
    ),
    MotionPatternSpec(
        "spray", "object", "A fine mist sprays out of a nozzle and spreads.", False,
        distortions=("mist coming from nowhere", "spray flowing back into the nozzle",
                     "solid streaks instead of mist"),
    ),
    MotionPatternSpec(
        "slice", "object", "A blade cuts cleanly through food.", False,
        distortions=("blade passing through without cutting", "slices rejoining",
                     "food melting instead of cutting"),
    ),
    MotionPatternSpec(
        "splash", "object", "Something drops into liquid and throws up droplets.", False,
        distortions=("droplets frozen in the air", "liquid turning solid",
                     "splash before the drop lands"),
    ),
    MotionPatternSpec(
        "drip", "object", "Single drops fall slowly from a dropper or a spout.", False,
        distortions=("drops falling upward", "drops appearing mid-air", "stream instead of drops"),
    ),
    MotionPatternSpec(
        "blend", "object", "Ingredients whirl together in a spinning blender.", False,
        distortions=("ingredients passing through the jar", "blades melting",
                     "contents spinning outside the jar"),
    ),
)
