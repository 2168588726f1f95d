from pathlib import Path

import numpy as np
import pytest

from kdcvg.errors import GenerationError
from kdcvg.generation.base import AdJob
from kdcvg.generation.diffusion.backend import DiffusersGenerator, parse_options
from kdcvg.retrieval.scenes import ProductInfo, Reference, Scene

TINY = {"device": "cpu", "steps": "2", "frames": "8", "width": "32", "height": "32",
        "guidance": "1.5"}


def test_options_arrive_as_strings_and_are_checked(tiny_folders: dict[str, Path]) -> None:
    opts = parse_options({"model": "m", "beta": "0.6", "lora": "on", "steps": 12})
    assert (opts.beta, opts.lora, opts.steps) == (0.6, True, 12)
    with pytest.raises(GenerationError) as e:
        parse_options({"model": "m", "beta": "1.5"})
    assert str(e.value) == "beta must be in [0, 1], got 1.5"
    with pytest.raises(GenerationError, match=r"option lora='maybe' must be on or off"):
        parse_options({"model": "m", "lora": "maybe"})
    with pytest.raises(GenerationError, match=r"option steps='x' must be a int"):
        parse_options({"model": "m", "steps": "x"})
    with pytest.raises(GenerationError, match="unknown diffusers option\\(s\\) colour"):
        parse_options({"model": "m", "colour": "red"})
    with pytest.raises(GenerationError, match="needs model=PATH"):
        parse_options({})


def test_beta_zero_without_lora_is_bit_identical_to_the_plain_pipeline(
    tiny_folders: dict[str, Path], product: ProductInfo, scene: Scene
) -> None:
    import torch

    gen = DiffusersGenerator()
    job = AdJob("p1", ("sp1",), seed=7, backend="diffusers",
                options={**TINY, "model": str(tiny_folders["animatediff"]), "beta": "0"})
    seen: list[tuple[int, int]] = []
    out = gen.generate(job, product, [scene], (720, 1280),
                       progress=lambda d, t: seen.append((d, t)))
    frames = np.stack(list(out.frames))
    prompt = out.metadata["scenes"][0]["script"]
    loaded = gen.load(parse_options(job.options))
    plain = loaded.pipe(prompt=prompt["prompt"], negative_prompt=prompt["negative_prompt"],
                        num_frames=8, height=32, width=32, num_inference_steps=2,
                        guidance_scale=1.5, generator=torch.Generator().manual_seed(7),
                        output_type="np").frames[0]
    expected = (np.clip(plain, 0, 1) * 255).round().astype(np.uint8)
    assert frames.shape == (8, 32, 32, 3) and out.num_frames == 8
    assert np.array_equal(frames, expected)
    assert seen == [(1, 2), (2, 2)]
    assert out.metadata["scenes"][0]["structure"]["method"] == "none"


def test_beta_mixes_in_the_reference(tiny_folders: dict[str, Path], product: ProductInfo,
                                     scene: Scene) -> None:
    gen = DiffusersGenerator()
    base = {**TINY, "model": str(tiny_folders["wan"]), "frames": "9", "inversion_steps": "2"}
    plain = gen.generate(AdJob("p1", ("s",), options={**base, "beta": "0"}), product, [scene],
                         (720, 720))
    mixed = gen.generate(AdJob("p1", ("s",), options={**base, "beta": "0.7"}), product, [scene],
                         (720, 720))
    a, b = np.stack(list(plain.frames)), np.stack(list(mixed.frames))
    assert a.shape == b.shape == (9, 32, 32, 3)
    assert not np.array_equal(a, b)
    summary = mixed.metadata["scenes"][0]
    assert summary["structure"] == {"clip_id": "clip-1", "method": "rectified_flow", "beta": 0.7,
                                    "inversion_steps": 2, "latent_shape": [1, 16, 3, 4, 4]}
    assert {"script", "vae_encode", "inversion", "pipeline"} <= set(summary["timings_s"])


def test_reference_too_short_for_the_frames(tiny_folders: dict[str, Path], product: ProductInfo,
                                            scene: Scene) -> None:
    job = AdJob("p1", ("s",), options={**TINY, "model": str(tiny_folders["animatediff"]),
                                       "frames": "40", "beta": "0.7"})
    with pytest.raises(GenerationError) as e:
        DiffusersGenerator().generate(job, product, [scene], (720, 720))
    assert str(e.value) == (f"reference clip {scene.references[0].uri} gives only 24 frames at "
                            "8 fps, fewer than the 40 frames requested; ask for fewer frames "
                            "(frames=N), a higher fps, or use a longer clip")


def test_scene_without_reference_is_refused(tiny_folders: dict[str, Path],
                                            product: ProductInfo) -> None:
    job = AdJob("p1", ("s",), options={**TINY, "model": str(tiny_folders["animatediff"])})
    with pytest.raises(GenerationError, match="scene 1 \\('fast'\\) has no reference clip"):
        DiffusersGenerator().generate(job, product, [Scene("fast", None, ())], (720, 720))


def test_wan_frames_must_be_4k_plus_1(tiny_folders: dict[str, Path], product: ProductInfo,
                                      scene: Scene) -> None:
    job = AdJob("p1", ("s",), options={**TINY, "model": str(tiny_folders["wan"])})
    with pytest.raises(GenerationError,
                       match="Wan needs frames = 4k \\+ 1 \\(e.g. 17, 33\\), got 8"):
        DiffusersGenerator().generate(job, product, [scene], (720, 720))


def test_free_init_and_beta_exclude_each_other() -> None:
    with pytest.raises(GenerationError, match="free_init replaces reference inversion"):
        parse_options({"model": "m", "free_init": "on", "beta": "0.5"})


def test_unused_reference_class_kept_plain() -> None:
    # the Reference contract: first reference drives the priors
    r = Reference("c", "/v.mp4", "cap", 1.0)
    assert Scene("t", None, (r,)).references[0].clip_id == "c"


def test_lora_on_trains_once_then_reuses(tiny_folders: dict[str, Path], product: ProductInfo,
                                         scene: Scene, tmp_path: Path) -> None:
    options = {**TINY, "model": str(tiny_folders["wan"]), "frames": "9", "beta": "0",
               "lora": "on", "lora_steps": "2", "lora_rank": "2", "home": str(tmp_path)}
    gen = DiffusersGenerator()
    first = gen.generate(AdJob("p1", ("s",), options=options), product, [scene], (720, 720))
    second = gen.generate(AdJob("p1", ("s",), options=options), product, [scene], (720, 720))
    m1, m2 = (v.metadata["scenes"][0]["motion"] for v in (first, second))
    assert (m1["reused"], m2["reused"]) == (False, True)
    assert m1["path"] == m2["path"] and Path(m1["path"]).parent.parent == tmp_path / "loras"
    assert np.array_equal(np.stack(list(first.frames)), np.stack(list(second.frames)))
    assert "mr_lora" not in (getattr(gen.load(parse_options(options)).denoiser,
                                     "peft_config", None) or {})


def test_negative_prompt_takes_the_graphs_distortions_into_the_sidecar(
    store, tiny_folders: dict[str, Path], tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    import json

    from kdcvg.generation.diffusion.script import DEFAULT_DISTORTIONS
    from kdcvg.generation.pipeline import prepare_job, render_job
    from kdcvg.generation.references import CuratedReferences
    from kdcvg.graph.ingest import write_batch
    from kdcvg.graph.records import IngestBatch
    from tests.generation.adkit import PRODUCT, SP_COLD, build_ackb

    build_ackb(store, tmp_path)  # c-still, the reference of SP_COLD, is curated as zoom_in
    batch = IngestBatch()
    batch.add_node("MotionPattern", {"name": "zoom_in", "kind": "camera",
                                     "distortions": ["blurry close-up", "changing product shape"]})
    write_batch(store, batch, embedder=None)
    job = AdJob(PRODUCT, (SP_COLD,), format="1:1", seed=1, backend="diffusers",
                options={**TINY, "model": str(tiny_folders["animatediff"]), "beta": "0",
                         "home": str(tmp_path)})
    prepared = prepare_job(store, job, source=CuratedReferences(store))
    assert prepared.scenes[0].references[0].distortions == ("blurry close-up",
                                                            "changing product shape")
    out = tmp_path / "ad.mp4"
    render_job(prepared, out, size=(64, 64), measure=False)  # the store is no longer read

    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["scenes"][0]["references"][0]["distortions"] == ["blurry close-up",
                                                                    "changing product shape"]
    script = sidecar["backend"]["metadata"]["scenes"][0]["script"]
    assert script["negative_prompt"] == ", ".join(
        [*DEFAULT_DISTORTIONS, "blurry close-up", "changing product shape"])
