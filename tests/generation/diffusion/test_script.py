from dataclasses import replace

import pytest

from kdcvg.errors import GenerationError
from kdcvg.generation.diffusion.priors import Script
from kdcvg.generation.diffusion.script import (
    DEFAULT_DISTORTIONS,
    DEFAULT_SCENE,
    parse_caption,
    script_prior,
)
from kdcvg.retrieval.scenes import ProductInfo, Reference


@pytest.mark.parametrize(("caption", "expected"), [
    ("A hand pours cold water into a glass on a kitchen counter",
     Script("hand", "on a kitchen counter", "pours cold water into a glass")),
    ("Bottles on a table, camera pans slowly",
     Script("Bottles", "on a table", "camera pans slowly")),
    ("Conveyor belt moving bolts in a factory",
     Script("Conveyor belt", "in a factory", "moving bolts")),
])
def test_parse_caption_splits_subject_scene_motion(caption: str, expected: Script) -> None:
    assert parse_caption(caption) == expected


def test_graph_patterns_fill_motion_when_caption_has_none() -> None:
    assert parse_caption("a cockatoo", ["pan_left", "zoom_in"]) == Script(
        "cockatoo", "", "pan left, zoom in")


def test_empty_caption_is_refused() -> None:
    with pytest.raises(GenerationError, match="reference caption is empty"):
        parse_caption("   ")


def test_script_prior_keeps_motion_and_swaps_subject_and_scene() -> None:
    ref = Reference("c1", "/x.mp4", "A hand pours cold water into a glass on a kitchen counter",
                    0.9, (("pan_left", 0.8),))
    prior = script_prior(ref, ProductInfo("p1", "AquaPure", "Acme", category="Beverages"),
                         "keeps drinks cold for 24 hours", distortions=["melted bottle"])
    assert prior.fused == Script("Acme AquaPure", "on a kitchen counter in warm morning light",
                                 "pours cold water into a glass")
    assert prior.prompt == ("Acme AquaPure pours cold water into a glass, on a kitchen counter in "
                            "warm morning light, keeps drinks cold for 24 hours, advertising "
                            "video, sharp product details")
    assert prior.negative_prompt.endswith("watermark, melted bottle")
    assert (prior.source_clip, prior.rewriter) == ("c1", "rules")


def test_unknown_category_gets_the_default_scene() -> None:
    ref = Reference("c1", "/x.mp4", "a bottle spins", 0.5)
    prior = script_prior(ref, ProductInfo("p2", "Gizmo", category="Misc"), "lasts long")
    assert prior.fused.scene == DEFAULT_SCENE
    assert prior.fused.motion == "spins"


def test_negative_prompt_adds_the_references_recorded_distortions() -> None:
    ref = Reference("c1", "/x.mp4", "A hand pours water into a glass", 0.9, (("pour", 0.8),),
                    distortions=("liquid floating upward", "blurry", "splash outside the glass"))
    prior = script_prior(ref, ProductInfo("p1", "AquaPure"), "stays cold",
                         distortions=["melted bottle", "liquid floating upward"])
    assert prior.negative_prompt == ", ".join([*DEFAULT_DISTORTIONS, "liquid floating upward",
                                               "splash outside the glass", "melted bottle"])
    plain = script_prior(replace(ref, distortions=()), ProductInfo("p1", "AquaPure"), "cold")
    assert plain.negative_prompt == ", ".join(DEFAULT_DISTORTIONS)
