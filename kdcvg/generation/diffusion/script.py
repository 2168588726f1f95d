"""Progressive script generation (the semantic prior), rule-based by default.

The paper parses the top reference's script into {subject, scene, motion},
keeps the motion, adapts subject and scene to the new product and fuses them
into the final prompt (with GPT-4). Here the parse is rules over the caption,
helped by the knowledge graph: the reference's motion patterns (from
`HAS_MOTION`) name the camera and object motion, their recorded distortions
(`MotionPattern.distortions`) join the negative prompt, and the product's category
picks the new scene. A local instruction-tuned language model may rewrite the
fused prompt (`rewrite_with_llm`), when the user names a folder.

Example:
    >>> parse_caption("A hand pours cold water into a glass on a kitchen counter")
    Script(subject='hand', scene='on a kitchen counter', motion='pours cold water into a glass')
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kdcvg.errors import GenerationError
from kdcvg.generation.diffusion.priors import Script, ScriptPrior
from kdcvg.retrieval.scenes import ProductInfo, Reference

# where a scene phrase starts ("on a kitchen counter", "in front of a shop window")
_SCENE = re.compile(
    r"\b(?:in front of|on top of|on|in|at|inside|outside|against|near|beside|under|"
    r"underneath|beneath|across|along|through|by)\s+(?:a|an|the|some)\s+[^,;.]+",
    re.IGNORECASE,
)
_DETERMINERS = {"a", "an", "the", "some", "this", "that", "its", "their", "his", "her"}
# verb stems that commonly carry a clip's motion; any "-ing" word also counts
_MOTION_STEMS = {
    "pour", "spin", "rotat", "turn", "roll", "slid", "move", "fall", "drop", "splash", "flow",
    "walk", "run", "jump", "open", "clos", "lift", "rais", "push", "pull", "shake", "swing",
    "zoom", "pan", "tilt", "track", "orbit", "fly", "float", "glid", "bounc", "spray", "squeez",
    "wip", "appli", "apply", "stir", "mix", "cut", "press", "tap", "swip", "fold", "unfold",
    "pick", "plac", "put", "hold", "wave", "dance", "ride", "swim", "drip", "melt", "burst",
    "rise", "ris", "sway", "shin", "sparkl", "reveal", "emerg", "travel", "circl", "sweep",
    "dolly", "crane", "approach", "pass", "cross", "enter", "leav", "swirl", "bubbl", "clink",
}
_ENDINGS = {"", "s", "es", "e", "ed", "d", "ies", "y", "ps", "ns", "ing"}
_CAMERA_CLAUSE = re.compile(r"^(?:the\s+)?camera\b", re.IGNORECASE)
# category keyword -> a typical scene for ads of that category
CATEGORY_SCENES: dict[str, str] = {
    "beverage": "on a kitchen counter in warm morning light",
    "drink": "on a kitchen counter in warm morning light",
    "coffee": "on a café table in soft morning light",
    "food": "on a rustic wooden table",
    "snack": "on a rustic wooden table",
    "beauty": "on a marble bathroom shelf",
    "cosmetic": "on a marble bathroom shelf",
    "skincare": "on a marble bathroom shelf",
    "electronic": "on a clean modern desk",
    "phone": "on a clean modern desk",
    "computer": "on a clean modern desk",
    "audio": "in a minimal living room",
    "fashion": "on a sunny city street",
    "apparel": "on a sunny city street",
    "shoe": "on a sunny city street",
    "home": "in a bright modern kitchen",
    "kitchen": "in a bright modern kitchen",
    "cleaning": "in a bright modern kitchen",
    "sport": "outdoors on a mountain trail",
    "fitness": "in a bright gym",
    "outdoor": "outdoors on a mountain trail",
    "toy": "in a colourful playroom",
    "pet": "in a cosy living room",
    "automotive": "on an open road at sunset",
}
DEFAULT_SCENE = "in a clean studio with soft light"
# distortions that spoil any product shot: the base of every negative prompt, to which
# the reference's motion patterns add theirs (`Reference.distortions`, from the graph)
DEFAULT_DISTORTIONS = (
    "deformed product", "warped logo", "garbled text", "flicker", "blurry", "low quality",
    "extra fingers", "distorted hands", "watermark",
)


def _is_motion_word(word: str) -> bool:
    w = word.lower().strip(".,;:!?'\"")
    if len(w) > 4 and w.endswith("ing"):
        return True
    return any(w.startswith(stem) and w[len(stem):] in _ENDINGS for stem in _MOTION_STEMS)


def _strip_determiners(text: str) -> str:
    words = text.split()
    while words and words[0].lower() in _DETERMINERS:
        words = words[1:]
    return " ".join(words)


def _pattern_phrase(name: str) -> str:
    """`pan_left` -> `pan left`: pattern names are snake_case in the knowledge graph."""
    return name.replace("_", " ").replace("-", " ").strip()


def parse_caption(caption: str, motion_patterns: Sequence[str] = ()) -> Script:
    """Split a clip caption into subject, scene and motion.

    Args:
        caption: the clip's caption.
        motion_patterns: the clip's motion pattern names, strongest first; they
            complete the motion when the caption names none.

    Raises:
        GenerationError: the caption is empty.
    """
    text = " ".join(caption.split())
    if not text:
        raise GenerationError("reference caption is empty; the script prior needs a caption")
    # "..., camera pans left" clauses are motion whatever comes before them
    clauses = [c.strip() for c in re.split(r"[,;]", text) if c.strip()]
    camera = [c for c in clauses[1:] if _CAMERA_CLAUSE.match(c)]
    if camera:
        text = ", ".join(c for c in clauses if c not in camera)
    scene_match = _SCENE.search(text)
    scene = scene_match.group(0).strip() if scene_match else ""
    rest = (text[:scene_match.start()] + text[scene_match.end():]) if scene_match else text
    rest = re.sub(r"\s+([,;.])", r"\1", " ".join(rest.split())).strip(" ,;.")
    words = rest.split()
    verb_at = next((i for i, w in enumerate(words) if i > 0 and _is_motion_word(w)), None)
    if verb_at is None:
        subject, motion = _strip_determiners(rest), ""
    else:
        subject = _strip_determiners(" ".join(words[:verb_at]))
        motion = " ".join(words[verb_at:])
    motion = ", ".join(m for m in [motion.strip(" ,;."), *camera] if m)
    extra = [_pattern_phrase(p) for p in motion_patterns if _pattern_phrase(p)]
    if extra and not motion:
        motion = ", ".join(extra)
    return Script(subject=subject.strip(" ,;."), scene=scene, motion=motion)


def scene_for(product: ProductInfo) -> str:
    """A typical scene for the product's category (DEFAULT_SCENE when none fits)."""
    category = product.category.lower()
    for key, scene in CATEGORY_SCENES.items():
        if key in category:
            return scene
    return DEFAULT_SCENE


def fuse(reference: Script, product: ProductInfo, camera: Sequence[str] = ()) -> Script:
    """Keep the reference's motion; put the new product and its scene in."""
    subject = " ".join(p for p in (product.brand, product.name) if p).strip() or product.id
    motion = reference.motion
    for phrase in camera:  # camera moves from the graph, when the caption does not say them
        if phrase and phrase not in motion:
            motion = f"{motion}, {phrase}" if motion else phrase
    return Script(subject=subject, scene=scene_for(product), motion=motion)


def script_prior(
    reference: Reference,
    product: ProductInfo,
    selling_point: str,
    distortions: Sequence[str] = (),
    camera_patterns: Sequence[str] = (),
) -> ScriptPrior:
    """Build the semantic prior of one scene from its top reference.

    Args:
        reference: the top retrieved clip of the scene.
        product: the product the ad is for.
        selling_point: the scene's selling-point text.
        distortions: more negative phrases from the caller, after the generic
            `DEFAULT_DISTORTIONS` and the reference's (`reference.distortions`, the
            distortions the knowledge base records for its motion patterns).
        camera_patterns: names of the reference's camera-kind motion patterns,
            appended to the motion when the caption does not already say them.

    Returns:
        The prior; its `prompt` reads "<subject> <motion>, <scene>, <selling point>",
        its `negative_prompt` the distortions above, comma-separated, without repeats.
    """
    patterns = [name for name, _ in reference.motion_patterns]
    parsed = parse_caption(reference.caption, patterns)
    fused = fuse(parsed, product, [_pattern_phrase(p) for p in camera_patterns])
    parts = [f"{fused.subject} {fused.motion}".strip(), fused.scene, selling_point.strip(),
             "advertising video, sharp product details"]
    prompt = ", ".join(p for p in parts if p)
    negative = ", ".join(dict.fromkeys([*DEFAULT_DISTORTIONS, *reference.distortions,
                                        *distortions]))
    return ScriptPrior(reference=parsed, fused=fused, prompt=prompt, negative_prompt=negative,
                       source_clip=reference.clip_id, source_caption=reference.caption)


def rewrite_with_llm(
    prior: ScriptPrior, folder: str | os.PathLike[str], max_new_tokens: int = 77
) -> ScriptPrior:
    """Let a local instruction-tuned language model rewrite the fused prompt.

    The model sees the reference script and the fused one and answers with a
    single prompt line; decoding is greedy, so the same model gives the same text.

    Args:
        prior: the rule-based prior.
        folder: a transformers causal-LM folder (tokenizer and weights), read offline.
        max_new_tokens: length limit of the answer.

    Raises:
        GenerationError: the folder is missing, does not load, or the answer is empty.
    """
    root = Path(folder)
    if not root.is_dir():
        raise GenerationError(f"language model folder {root} does not exist")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer: Any = AutoTokenizer.from_pretrained(str(root), local_files_only=True)
        model: Any = AutoModelForCausalLM.from_pretrained(str(root), local_files_only=True)
    except (OSError, ValueError) as e:
        raise GenerationError(f"language model folder {root}: loading failed ({e})") from e
    ref, new = prior.reference, prior.fused
    request = (
        "Rewrite this advertising video script as one vivid text-to-video prompt. "
        f"Reference: subject '{ref.subject}', scene '{ref.scene}', motion '{ref.motion}'. "
        f"New: subject '{new.subject}', scene '{new.scene}', keep motion '{new.motion}'. "
        f"Draft: {prior.prompt}\nPrompt:"
    )
    if getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template([{"role": "user", "content": request}],
                                            add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)["input_ids"]
    else:
        ids = tokenizer(request, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    answer = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()
    line = next((ln.strip() for ln in answer.splitlines() if ln.strip()), "")
    if not line:
        raise GenerationError(f"language model {root} gave an empty prompt; drop llm= to use rules")
    return ScriptPrior(**{**prior.__dict__, "prompt": line, "rewriter": f"llm:{root}"})
