"""The demo catalogue: products, selling points and demo clips.

Pure data. The whole project uses these ids (SAR's evaluation queries, the demo
ads, the tests), so they are stable: add entries, never rename or reuse one.
Motion pattern names refer to the vocabulary in `kdcvg.graph.motion_patterns`.

- `PRODUCTS` / `SELLING_POINTS`: ids `<product>` and `sp-<product>-<n>`.
- `DEMO_CLIPS`: each clip is rendered by `kdcvg.demo.footage` from its
  `scene` with the camera/object motion `motion`, which is therefore its
  ground-truth pattern; `creative` names curated links to creative patterns;
  `expresses` holds the curated EXPRESSES links (selling-point id, weight).
- `SUGGESTS`: selling point -> motion pattern, the ad-craft prior.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ProductSpec:
    """One demo product (a `Product` node) and how the renderer draws it.

    Args:
        id: node key.
        name, brand, category, description: node properties.
        shape: what the renderer draws: bottle, jar, box, bag, knife, case, watch, blender.
        color: RGB body colour used by the renderer.
    """

    id: str
    name: str
    brand: str
    category: str
    description: str
    shape: str
    color: tuple[int, int, int]


@dataclass(frozen=True)
class SellingPointSpec:
    """One selling point (a `SellingPoint` node): id `sp-<product>-<n>`."""

    id: str
    product: str
    text: str


@dataclass(frozen=True)
class ClipSpec:
    """One synthetic demo clip.

    Args:
        id: node key (`clip-<product>-<what>`); the MP4 is `<id>.mp4`.
        product: the product it shows (SHOWS link).
        scene: what `kdcvg.demo.footage` draws (pour, pan_shelf, zoom, spin, ...).
        motion: the detectable pattern it is rendered with (ground truth).
        caption: the clip's caption.
        expresses: curated EXPRESSES links as (selling-point id, weight in (0, 1]).
        creative: curated HAS_MOTION links to creative patterns.
        duration_s: length in seconds (2-4).
        size: frame width and height in pixels (square, even).
        fps: frames per second of the MP4.
    """

    id: str
    product: str
    scene: str
    motion: str
    caption: str
    expresses: tuple[tuple[str, float], ...]
    creative: tuple[str, ...] = ()
    duration_s: float = 3.0
    size: int = 192
    fps: int = 12


CATEGORIES: tuple[str, ...] = ("beverages", "skincare", "kitchen", "snacks", "electronics")

PRODUCTS: tuple[ProductSpec, ...] = (
    ProductSpec(
        "aurora-water",
        "Aurora Sparkling Water",
        "Aurora",
        "beverages",
        "Naturally sparkling mineral water with a hint of citrus, in a glass bottle.",
        "bottle",
        (70, 170, 220),
    ),
    ProductSpec(
        "peak-cold-brew",
        "Peak Cold Brew Coffee",
        "Peak",
        "beverages",
        "Slow-steeped cold brew coffee, ready to pour over ice.",
        "bottle",
        (90, 55, 30),
    ),
    ProductSpec(
        "lumen-serum",
        "Lumen Vitamin C Serum",
        "Lumen",
        "skincare",
        "Brightening vitamin C face serum in an amber dropper bottle.",
        "bottle",
        (230, 150, 40),
    ),
    ProductSpec(
        "dew-mist",
        "Dew Hydrating Face Mist",
        "Dew",
        "skincare",
        "Rose water and hyaluronic acid facial mist in a travel spray bottle.",
        "bottle",
        (240, 170, 190),
    ),
    ProductSpec(
        "edge-knife",
        "Edge Chef's Knife",
        "Edge",
        "kitchen",
        "Eight-inch chef's knife forged from Japanese stainless steel.",
        "knife",
        (200, 205, 215),
    ),
    ProductSpec(
        "swirl-blender",
        "Swirl Power Blender",
        "Swirl",
        "kitchen",
        "1200-watt countertop blender for smoothies, soups and crushed ice.",
        "blender",
        (200, 40, 50),
    ),
    ProductSpec(
        "crunch-chips",
        "Crunch Veggie Chips",
        "Crunch",
        "snacks",
        "Baked chips made from real beetroot, carrot and sweet potato.",
        "bag",
        (240, 120, 30),
    ),
    ProductSpec(
        "honey-oat-bars",
        "Honey Oat Bars",
        "Meadow",
        "snacks",
        "Whole grain oat bars with real honey and ten grams of protein.",
        "box",
        (225, 185, 60),
    ),
    ProductSpec(
        "pulse-earbuds",
        "Pulse Wireless Earbuds",
        "Pulse",
        "electronics",
        "True wireless noise-cancelling earbuds with a pocket charging case.",
        "case",
        (245, 245, 245),
    ),
    ProductSpec(
        "orbit-watch",
        "Orbit Smartwatch",
        "Orbit",
        "electronics",
        "Fitness smartwatch with an always-on display and heart-rate tracking.",
        "watch",
        (40, 40, 50),
    ),
)

SELLING_POINTS: tuple[SellingPointSpec, ...] = (
    SellingPointSpec(
        "sp-aurora-water-1", "aurora-water", "Naturally carbonated with fine, long-lasting bubbles."
    ),
    SellingPointSpec(
        "sp-aurora-water-2",
        "aurora-water",
        "Zero sugar and zero calories, with just a hint of real citrus.",
    ),
    SellingPointSpec(
        "sp-aurora-water-3",
        "aurora-water",
        "Pours crystal clear and stays fizzy for hours after opening.",
    ),
    SellingPointSpec(
        "sp-aurora-water-4", "aurora-water", "Recyclable glass bottle that keeps it ice cold."
    ),
    SellingPointSpec(
        "sp-peak-cold-brew-1",
        "peak-cold-brew",
        "Steeped for 18 hours for a smooth, low-acid taste.",
    ),
    SellingPointSpec(
        "sp-peak-cold-brew-2",
        "peak-cold-brew",
        "Twice the caffeine of regular coffee to power your morning.",
    ),
    SellingPointSpec(
        "sp-peak-cold-brew-3", "peak-cold-brew", "Ready to pour over ice, no coffee machine needed."
    ),
    SellingPointSpec(
        "sp-lumen-serum-1",
        "lumen-serum",
        "Fifteen percent vitamin C brightens dull skin in two weeks.",
    ),
    SellingPointSpec(
        "sp-lumen-serum-2",
        "lumen-serum",
        "Lightweight serum that absorbs in seconds without stickiness.",
    ),
    SellingPointSpec(
        "sp-lumen-serum-3",
        "lumen-serum",
        "The glass dropper gives exactly the right dose every time.",
    ),
    SellingPointSpec(
        "sp-lumen-serum-4", "lumen-serum", "Dermatologist tested and gentle on sensitive skin."
    ),
    SellingPointSpec(
        "sp-dew-mist-1",
        "dew-mist",
        "An ultra-fine mist refreshes your skin with or without makeup.",
    ),
    SellingPointSpec(
        "sp-dew-mist-2", "dew-mist", "Rose water and hyaluronic acid lock in moisture all day."
    ),
    SellingPointSpec("sp-dew-mist-3", "dew-mist", "Travel-size spray bottle that fits in any bag."),
    SellingPointSpec(
        "sp-edge-knife-1", "edge-knife", "Razor-sharp Japanese steel slices tomatoes paper thin."
    ),
    SellingPointSpec(
        "sp-edge-knife-2", "edge-knife", "A balanced handle for comfortable, precise cutting."
    ),
    SellingPointSpec(
        "sp-edge-knife-3", "edge-knife", "Stays sharp five times longer than ordinary blades."
    ),
    SellingPointSpec(
        "sp-swirl-blender-1",
        "swirl-blender",
        "A 1200-watt motor crushes ice into smoothies in 30 seconds.",
    ),
    SellingPointSpec(
        "sp-swirl-blender-2",
        "swirl-blender",
        "Six stainless steel blades spin for a silky smooth blend.",
    ),
    SellingPointSpec(
        "sp-swirl-blender-3", "swirl-blender", "The dishwasher-safe jar cleans up in seconds."
    ),
    SellingPointSpec(
        "sp-swirl-blender-4", "swirl-blender", "Whisper-quiet design that won't wake the house."
    ),
    SellingPointSpec(
        "sp-crunch-chips-1", "crunch-chips", "Made from real vegetables, baked and never fried."
    ),
    SellingPointSpec(
        "sp-crunch-chips-2", "crunch-chips", "An extra satisfying crunch in every bite."
    ),
    SellingPointSpec(
        "sp-crunch-chips-3", "crunch-chips", "The resealable bag keeps chips fresh for days."
    ),
    SellingPointSpec(
        "sp-honey-oat-bars-1",
        "honey-oat-bars",
        "Whole grain oats and real honey for lasting energy.",
    ),
    SellingPointSpec("sp-honey-oat-bars-2", "honey-oat-bars", "Ten grams of protein in every bar."),
    SellingPointSpec(
        "sp-honey-oat-bars-3", "honey-oat-bars", "Individually wrapped for snacking on the go."
    ),
    SellingPointSpec(
        "sp-pulse-earbuds-1",
        "pulse-earbuds",
        "Active noise cancelling blocks out the noise of the city.",
    ),
    SellingPointSpec(
        "sp-pulse-earbuds-2",
        "pulse-earbuds",
        "Thirty hours of battery life with the charging case.",
    ),
    SellingPointSpec(
        "sp-pulse-earbuds-3", "pulse-earbuds", "A sweat-proof fit that stays put during workouts."
    ),
    SellingPointSpec(
        "sp-pulse-earbuds-4",
        "pulse-earbuds",
        "The case snaps open and pairs instantly with your phone.",
    ),
    SellingPointSpec(
        "sp-orbit-watch-1", "orbit-watch", "Tracks heart rate, sleep and steps around the clock."
    ),
    SellingPointSpec(
        "sp-orbit-watch-2", "orbit-watch", "An always-on display you can read in bright sunlight."
    ),
    SellingPointSpec(
        "sp-orbit-watch-3", "orbit-watch", "Water resistant to 50 metres, ready for the pool."
    ),
)

DEMO_CLIPS: tuple[ClipSpec, ...] = (
    ClipSpec(
        "clip-aurora-water-pour",
        "aurora-water",
        "pour",
        "pour",
        "Sparkling water pours into a tall glass, bubbles rising.",
        (("sp-aurora-water-3", 0.9), ("sp-aurora-water-1", 0.6)),
    ),
    ClipSpec(
        "clip-aurora-water-shelf",
        "aurora-water",
        "pan_shelf",
        "pan_right",
        "The camera pans across chilled glass bottles on a shelf.",
        (("sp-aurora-water-4", 0.8), ("sp-aurora-water-2", 0.3)),
    ),
    ClipSpec(
        "clip-aurora-water-splash",
        "aurora-water",
        "splash",
        "pour",
        "A slice of lemon splashes into a glass of sparkling water.",
        (("sp-aurora-water-2", 0.9), ("sp-aurora-water-1", 0.5)),
        ("splash",),
    ),
    ClipSpec(
        "clip-peak-cold-brew-pour",
        "peak-cold-brew",
        "pour",
        "pour",
        "Cold brew coffee pours over ice in a glass.",
        (("sp-peak-cold-brew-3", 0.9), ("sp-peak-cold-brew-1", 0.4)),
        duration_s=3.5,
    ),
    ClipSpec(
        "clip-peak-cold-brew-zoom",
        "peak-cold-brew",
        "zoom",
        "zoom_in",
        "A slow push in on the cold brew bottle and its label.",
        (("sp-peak-cold-brew-1", 0.8), ("sp-peak-cold-brew-2", 0.5)),
    ),
    ClipSpec(
        "clip-peak-cold-brew-still",
        "peak-cold-brew",
        "still",
        "static",
        "The cold brew bottle stands on a cafe table in morning light.",
        (("sp-peak-cold-brew-2", 0.5),),
        duration_s=2.5,
    ),
    ClipSpec(
        "clip-lumen-serum-zoom",
        "lumen-serum",
        "zoom",
        "zoom_in",
        "The camera zooms toward the amber vitamin C serum bottle.",
        (("sp-lumen-serum-1", 0.8),),
    ),
    ClipSpec(
        "clip-lumen-serum-drip",
        "lumen-serum",
        "drip",
        "pour",
        "Golden serum drops fall from the glass dropper.",
        (("sp-lumen-serum-3", 0.9), ("sp-lumen-serum-2", 0.5)),
        ("drip",),
    ),
    ClipSpec(
        "clip-lumen-serum-still",
        "lumen-serum",
        "still",
        "static",
        "The serum bottle rests on a marble counter in soft light.",
        (("sp-lumen-serum-4", 0.6),),
        duration_s=2.5,
    ),
    ClipSpec(
        "clip-lumen-serum-roll",
        "lumen-serum",
        "roll",
        "rotate",
        "A dreamy rolling camera turns around the serum bottle.",
        (("sp-lumen-serum-1", 0.5), ("sp-lumen-serum-2", 0.3)),
    ),
    ClipSpec(
        "clip-dew-mist-spray",
        "dew-mist",
        "spray",
        "rise",
        "The face mist sprays a fine cloud up into the air.",
        (("sp-dew-mist-1", 0.9), ("sp-dew-mist-2", 0.5)),
        ("spray",),
    ),
    ClipSpec(
        "clip-dew-mist-handheld",
        "dew-mist",
        "handheld",
        "shake",
        "A handheld shot of the mist bottle on the way into a bag.",
        (("sp-dew-mist-3", 0.8),),
    ),
    ClipSpec(
        "clip-dew-mist-tilt",
        "dew-mist",
        "tilt",
        "tilt_up",
        "The camera tilts up along the slim pink mist bottle.",
        (("sp-dew-mist-2", 0.6), ("sp-dew-mist-3", 0.4)),
    ),
    ClipSpec(
        "clip-edge-knife-slice",
        "edge-knife",
        "slice",
        "pour",
        "The knife slices cleanly down through a ripe tomato.",
        (("sp-edge-knife-1", 0.95), ("sp-edge-knife-3", 0.5)),
        ("slice",),
    ),
    ClipSpec(
        "clip-edge-knife-pan",
        "edge-knife",
        "pan_shelf",
        "pan_left",
        "The camera pans along a row of polished knives on a magnetic rack.",
        (("sp-edge-knife-3", 0.7), ("sp-edge-knife-2", 0.4)),
    ),
    ClipSpec(
        "clip-edge-knife-tilt",
        "edge-knife",
        "tilt",
        "tilt_down",
        "The camera tilts down the knife from handle to tip.",
        (("sp-edge-knife-2", 0.7),),
    ),
    ClipSpec(
        "clip-swirl-blender-spin",
        "swirl-blender",
        "spin",
        "spin",
        "The blender blades spin a fruit smoothie into a whirl.",
        (("sp-swirl-blender-2", 0.9), ("sp-swirl-blender-1", 0.7)),
        ("blend",),
    ),
    ClipSpec(
        "clip-swirl-blender-pulse",
        "swirl-blender",
        "bounce",
        "periodic",
        "The blender jar pulses up and down in a steady rhythm.",
        (("sp-swirl-blender-1", 0.6), ("sp-swirl-blender-4", 0.3)),
    ),
    ClipSpec(
        "clip-swirl-blender-reveal",
        "swirl-blender",
        "zoom",
        "zoom_out",
        "The camera pulls back to reveal the blender on a clean counter.",
        (("sp-swirl-blender-3", 0.5), ("sp-swirl-blender-4", 0.5)),
        ("reveal",),
    ),
    ClipSpec(
        "clip-honey-oat-bars-conveyor",
        "honey-oat-bars",
        "conveyor",
        "slide",
        "Honey oat bars glide along a factory conveyor belt.",
        (("sp-honey-oat-bars-3", 0.7), ("sp-honey-oat-bars-1", 0.3)),
    ),
    ClipSpec(
        "clip-honey-oat-bars-unbox",
        "honey-oat-bars",
        "unbox",
        "rise",
        "The box lid lifts to reveal a row of wrapped oat bars.",
        (("sp-honey-oat-bars-3", 0.8), ("sp-honey-oat-bars-2", 0.5)),
        ("unbox",),
    ),
    ClipSpec(
        "clip-honey-oat-bars-pullback",
        "honey-oat-bars",
        "zoom",
        "zoom_out",
        "The camera pulls back from a stack of oat bars.",
        (("sp-honey-oat-bars-2", 0.6), ("sp-honey-oat-bars-1", 0.4)),
    ),
    ClipSpec(
        "clip-crunch-chips-conveyor",
        "crunch-chips",
        "conveyor",
        "slide",
        "Fresh veggie chip bags slide down the production line.",
        (("sp-crunch-chips-1", 0.7),),
    ),
    ClipSpec(
        "clip-crunch-chips-handheld",
        "crunch-chips",
        "handheld",
        "shake",
        "A handheld shot shakes the resealable chip bag.",
        (("sp-crunch-chips-3", 0.7), ("sp-crunch-chips-2", 0.4)),
    ),
    ClipSpec(
        "clip-crunch-chips-tumble",
        "crunch-chips",
        "pour",
        "pour",
        "Chips tumble out of the bag into a bowl.",
        (("sp-crunch-chips-2", 0.8),),
    ),
    ClipSpec(
        "clip-pulse-earbuds-unbox",
        "pulse-earbuds",
        "unbox",
        "rise",
        "The charging case lid opens to show the earbuds inside.",
        (("sp-pulse-earbuds-4", 0.9), ("sp-pulse-earbuds-2", 0.5)),
        ("unbox",),
    ),
    ClipSpec(
        "clip-pulse-earbuds-turntable",
        "pulse-earbuds",
        "spin",
        "spin",
        "The earbuds turn slowly on a white turntable.",
        (("sp-pulse-earbuds-1", 0.5),),
    ),
    ClipSpec(
        "clip-pulse-earbuds-beat",
        "pulse-earbuds",
        "bounce",
        "periodic",
        "An earbud bounces to the beat of a workout track.",
        (("sp-pulse-earbuds-3", 0.7), ("sp-pulse-earbuds-1", 0.3)),
    ),
    ClipSpec(
        "clip-pulse-earbuds-tilt",
        "pulse-earbuds",
        "tilt",
        "tilt_up",
        "The camera tilts up from the open case to the earbuds.",
        (("sp-pulse-earbuds-2", 0.6),),
    ),
    ClipSpec(
        "clip-orbit-watch-roll",
        "orbit-watch",
        "roll",
        "rotate",
        "The camera rolls around the smartwatch face.",
        (("sp-orbit-watch-2", 0.6),),
    ),
    ClipSpec(
        "clip-orbit-watch-swing",
        "orbit-watch",
        "swing",
        "periodic",
        "The smartwatch swings on a wrist during a run.",
        (("sp-orbit-watch-1", 0.7), ("sp-orbit-watch-3", 0.4)),
    ),
    ClipSpec(
        "clip-orbit-watch-dive",
        "orbit-watch",
        "tilt",
        "tilt_down",
        "The camera tilts down over the watch lying in clear water.",
        (("sp-orbit-watch-3", 0.6),),
    ),
    ClipSpec(
        "clip-orbit-watch-orbit",
        "orbit-watch",
        "pan_shelf",
        "pan_right",
        "The camera circles the smartwatch on its display stand.",
        (("sp-orbit-watch-2", 0.5), ("sp-orbit-watch-1", 0.3)),
        ("orbit",),
    ),
)

# selling point -> motion patterns that show it well (SUGGESTS links)
SUGGESTS: tuple[tuple[str, str], ...] = (
    ("sp-aurora-water-1", "rise"),
    ("sp-aurora-water-1", "pour"),
    ("sp-aurora-water-2", "splash"),
    ("sp-aurora-water-3", "pour"),
    ("sp-aurora-water-4", "pan_right"),
    ("sp-peak-cold-brew-1", "zoom_in"),
    ("sp-peak-cold-brew-2", "shake"),
    ("sp-peak-cold-brew-3", "pour"),
    ("sp-lumen-serum-1", "zoom_in"),
    ("sp-lumen-serum-2", "drip"),
    ("sp-lumen-serum-3", "drip"),
    ("sp-lumen-serum-3", "pour"),
    ("sp-lumen-serum-4", "static"),
    ("sp-dew-mist-1", "spray"),
    ("sp-dew-mist-1", "rise"),
    ("sp-dew-mist-2", "tilt_up"),
    ("sp-dew-mist-3", "shake"),
    ("sp-edge-knife-1", "slice"),
    ("sp-edge-knife-2", "tilt_down"),
    ("sp-edge-knife-3", "pan_left"),
    ("sp-swirl-blender-1", "spin"),
    ("sp-swirl-blender-1", "blend"),
    ("sp-swirl-blender-2", "spin"),
    ("sp-swirl-blender-3", "reveal"),
    ("sp-swirl-blender-4", "static"),
    ("sp-crunch-chips-1", "slide"),
    ("sp-crunch-chips-2", "pour"),
    ("sp-crunch-chips-3", "shake"),
    ("sp-honey-oat-bars-1", "zoom_out"),
    ("sp-honey-oat-bars-2", "reveal"),
    ("sp-honey-oat-bars-3", "unbox"),
    ("sp-pulse-earbuds-1", "spin"),
    ("sp-pulse-earbuds-2", "tilt_up"),
    ("sp-pulse-earbuds-3", "periodic"),
    ("sp-pulse-earbuds-4", "unbox"),
    ("sp-orbit-watch-1", "periodic"),
    ("sp-orbit-watch-2", "orbit"),
    ("sp-orbit-watch-2", "rotate"),
    ("sp-orbit-watch-3", "tilt_down"),
)
