"""`DiffusersGenerator`: MKR (script prior, MR-LoRA, reference inversion) on a diffusers pipeline.

Settings arrive in `AdJob.options` (strings from the command line are parsed
and checked by `parse_options`). Per scene, in order:

1. the script prior from the top reference and the product (`script.py`);
2. the reference's frames, VAE-encoded, and (beta > 0) inverted to noise;
3. the MR-LoRA for (reference clip, model): reused from the store folder or
   trained and saved (`lora=on`);
4. the pipeline, from the mixed initial latents, with a CPU generator seeded
   by `job.seed + scene index`.

The output frames are what the pipeline makes (e.g. 16 frames of 512 px); the
front end resizes them to the ad format.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kdcvg.errors import GenerationError
from kdcvg.generation.base import AdJob, GeneratedVideo, ProgressCallback
from kdcvg.generation.diffusion.priors import MotionPrior, Priors, StructurePrior
from kdcvg.retrieval.scenes import ProductInfo, Scene

if TYPE_CHECKING:
    from kdcvg.generation.diffusion.pipelines import LoadedPipeline

_BOOL = {"on": True, "true": True, "yes": True, "1": True,
         "off": False, "false": False, "no": False, "0": False}


@dataclass(frozen=True)
class MkrOptions:
    """The diffusers backend's settings (keys of `AdJob.options`)."""

    model: str
    device: str = "auto"
    dtype: str = "auto"
    beta: float = 0.7
    steps: int = 30
    inversion_steps: int = 30
    inversion_refine: int = 0
    guidance: float = 7.0
    frames: int | None = None  # None: the family's default (`Family.default_frames`)
    width: int | None = None  # None: from the ad format, long side 512
    height: int | None = None
    fps: float = 8.0
    lora: bool = False
    lora_steps: int = 400
    lora_rank: int = 128
    lora_lr: float = 1e-4
    lora_path: str | None = None
    free_init: bool = False
    offload: str = "none"
    vae_slicing: bool = False
    vae_tiling: bool = False
    motion_adapter: str | None = None
    caption_blend: float = 0.0
    llm: str | None = None
    home: str = ".kdcvg"  # the store folder; MR-LoRAs go under <home>/loras/


_FIELDS = {f for f in MkrOptions.__dataclass_fields__}


def _convert(key: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in _BOOL:
            raise GenerationError(f"option {key}={value!r} must be on or off")
        return _BOOL[text]
    try:
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return kind(value)
    except (TypeError, ValueError) as e:
        raise GenerationError(f"option {key}={value!r} must be a {kind.__name__}") from e


def parse_options(options: Mapping[str, Any]) -> MkrOptions:
    """Parse and check `AdJob.options` for the diffusers backend.

    Raises:
        GenerationError: an unknown key, a value of the wrong type or out of range,
            or no `model`.
    """
    unknown = sorted(set(options) - _FIELDS)
    if unknown:
        raise GenerationError(
            f"unknown diffusers option(s) {', '.join(unknown)}; known: {', '.join(sorted(_FIELDS))}"
        )
    if not options.get("model"):
        raise GenerationError("the diffusers backend needs model=PATH (a local pipeline folder)")
    types = {"beta": float, "guidance": float, "fps": float, "lora_lr": float,
             "caption_blend": float, "steps": int, "inversion_steps": int,
             "inversion_refine": int, "frames": int, "width": int, "height": int,
             "lora_steps": int, "lora_rank": int, "lora": bool, "free_init": bool,
             "vae_slicing": bool, "vae_tiling": bool}
    values: dict[str, Any] = {k: (_convert(k, v, types[k]) if k in types and v is not None else
                  (str(v) if v is not None else None)) for k, v in options.items()}
    values.setdefault("home", os.environ.get("KDCVG_HOME", ".kdcvg"))
    opts = MkrOptions(**values)
    checks = [
        (0.0 <= opts.beta <= 1.0, f"beta must be in [0, 1], got {opts.beta}"),
        (opts.steps >= 1, f"steps must be >= 1, got {opts.steps}"),
        (opts.inversion_steps >= 1, f"inversion_steps must be >= 1, got {opts.inversion_steps}"),
        (opts.inversion_refine >= 0, f"inversion_refine must be >= 0, got {opts.inversion_refine}"),
        (opts.guidance >= 1.0, f"guidance must be >= 1, got {opts.guidance}"),
        (opts.fps > 0, f"fps must be > 0, got {opts.fps}"),
        (opts.frames is None or opts.frames >= 2, f"frames must be >= 2, got {opts.frames}"),
        (0.0 <= opts.caption_blend <= 1.0,
         f"caption_blend must be in [0, 1], got {opts.caption_blend}"),
        (not (opts.free_init and opts.beta > 0),
         "free_init replaces reference inversion: set beta=0 with free_init=on"),
    ]
    for ok, message in checks:
        if not ok:
            raise GenerationError(message)
    return opts


def _last(curve: list[float]) -> float | None:
    return curve[-1] if curve else None


def _round(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


class DiffusersGenerator:
    """The `diffusers` backend (see the module docstring). Loaded pipelines are cached."""

    name = "diffusers"

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], LoadedPipeline] = {}

    def load(self, opts: MkrOptions) -> LoadedPipeline:
        """The pipeline for these options, loaded once per folder and device settings."""
        from kdcvg.generation.diffusion.pipelines import load_pipeline

        key = (str(Path(opts.model).resolve()), opts.device, opts.dtype, opts.offload,
               opts.vae_slicing, opts.vae_tiling, opts.motion_adapter)
        if key not in self._cache:
            self._cache.clear()  # one model in memory at a time
            self._cache[key] = load_pipeline(
                opts.model, device=opts.device, dtype=opts.dtype, offload=opts.offload,
                vae_slicing=opts.vae_slicing, vae_tiling=opts.vae_tiling,
                motion_adapter=opts.motion_adapter)
        return self._cache[key]

    def generate(
        self,
        job: AdJob,
        product: ProductInfo,
        scenes: Sequence[Scene],
        size: tuple[int, int],
        progress: ProgressCallback | None = None,
    ) -> GeneratedVideo:
        """Render every scene with MKR; frames of all scenes in order."""
        opts = parse_options(job.options)
        if not scenes:
            raise GenerationError(f"job for product {job.product_id} has no scenes")
        for i, scene in enumerate(scenes):
            if not scene.references:
                raise GenerationError(
                    f"scene {i + 1} ({scene.text!r}) has no reference clip; MKR needs one per scene"
                )
        loaded = self.load(opts)
        frames, width, height = self._geometry(loaded, opts, size)
        total = len(scenes) * opts.steps
        videos: list[np.ndarray] = []
        summaries: list[dict[str, Any]] = []
        for i, scene in enumerate(scenes):
            def step_done(step: int, _i: int = i) -> None:
                if progress is not None:
                    progress(_i * opts.steps + step, total)

            video, priors = self.render_scene(loaded, opts, product, scene, frames, width, height,
                                              job.seed + i, step_done)
            videos.append(video)
            summaries.append(priors.summary())
        metadata = {"backend": self.name, "options": asdict(opts), "model_kind": loaded.kind,
                    "model_fingerprint": loaded.fingerprint, "device": loaded.device,
                    "frames_per_scene": frames, "size": [width, height], "scenes": summaries}
        count = sum(len(v) for v in videos)

        def stream() -> Iterator[np.ndarray]:
            for v in videos:
                yield from v

        return GeneratedVideo(stream(), count, opts.fps, metadata)

    @staticmethod
    def _geometry(loaded: LoadedPipeline, opts: MkrOptions, size: tuple[int, int]) -> tuple[int, int, int]:
        family = loaded.family
        multiple = family.size_multiple(loaded.pipe)
        w_ad, h_ad = size
        scale = 512 / max(w_ad, h_ad)
        width = opts.width or _round(w_ad * scale, multiple)
        height = opts.height or _round(h_ad * scale, multiple)
        if width % multiple or height % multiple:
            raise GenerationError(
                f"width and height must be multiples of {multiple} for this pipeline, "
                f"got {width}x{height}"
            )
        frames = family.frame_count(opts.frames)
        family.check_frames(loaded.pipe, frames)
        return frames, width, height

    def render_scene(
        self,
        loaded: LoadedPipeline,
        opts: MkrOptions,
        product: ProductInfo,
        scene: Scene,
        frames: int,
        width: int,
        height: int,
        seed: int,
        step_done: Any = None,
    ) -> tuple[np.ndarray, Priors]:
        """Compute one scene's priors and run the pipeline: uint8 (F, H, W, 3) and the priors."""
        import torch

        from kdcvg.generation.diffusion import inversion, lora, script
        from kdcvg.generation.diffusion.pipelines import gpu_memory_guard

        ref = scene.references[0]
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        prior = script.script_prior(ref, product, scene.text)
        if opts.llm:
            prior = script.rewrite_with_llm(prior, opts.llm)
        if opts.caption_blend:
            prior = script.ScriptPrior(**{**prior.__dict__, "caption_blend": opts.caption_blend})
        timings["script"] = time.perf_counter() - t0

        with gpu_memory_guard(f"scene {scene.text!r}"):
            cond = inversion.blend_embeddings(
                loaded, prior.prompt, [r.caption for r in scene.references], opts.caption_blend)
            _, uncond = inversion.encode_prompt(loaded, prior.prompt, prior.negative_prompt,
                                                opts.guidance)
            generator = torch.Generator("cpu").manual_seed(seed)
            noise = inversion.fresh_noise(loaded, frames, height, width, generator)
            structure = StructurePrior(ref.clip_id, "none", opts.beta, opts.inversion_steps)
            reference_latents = None
            if opts.beta > 0 or opts.lora:
                t = time.perf_counter()
                pixels = inversion.reference_frames(ref.uri, frames, width, height, opts.fps)
                reference_latents = inversion.encode_video(loaded, pixels)
                structure.reference_latents = reference_latents
                timings["vae_encode"] = time.perf_counter() - t
            motion = self._motion_prior(loaded, opts, ref, reference_latents, timings)
            if opts.beta > 0:
                t = time.perf_counter()
                ref_cond, _ = inversion.encode_prompt(loaded, prior.prompt)
                structure.inverted = inversion.invert(loaded, reference_latents, ref_cond,
                                                      opts.inversion_steps, opts.inversion_refine)
                structure.method = loaded.family.inversion
                timings["inversion"] = time.perf_counter() - t
            latents = inversion.mix_noise(structure.inverted, noise, opts.beta)
            if opts.free_init:
                structure.method = "free_init"
                loaded.pipe.enable_free_init(num_iters=3, use_fast_sampling=True)
            try:
                t = time.perf_counter()
                video = self._run(loaded, opts, cond, uncond, latents, frames, width, height,
                                  generator, step_done)
                timings["pipeline"] = time.perf_counter() - t
            finally:
                if opts.free_init:
                    loaded.pipe.disable_free_init()
                lora.detach_mr_lora(loaded)
        return video, Priors(prior, structure, motion, timings)

    def _motion_prior(self, loaded: LoadedPipeline, opts: MkrOptions, ref: Any, latents: Any,
                      timings: dict[str, float]) -> MotionPrior | None:
        from kdcvg.generation.diffusion import lora
        from kdcvg.generation.diffusion.service import mr_lora

        if opts.lora_path is not None:
            t = time.perf_counter()
            record = lora.load_mr_lora(loaded, opts.lora_path)
            timings["lora_load"] = time.perf_counter() - t
            return MotionPrior(record.clip_id, opts.lora_path, record.fingerprint, record.rank,
                               record.steps, True, _last(record.loss_curve))
        if not opts.lora:
            return None
        t = time.perf_counter()
        settings = lora.LoraSettings(opts.lora_rank, opts.lora_steps, opts.lora_lr)
        result = mr_lora(loaded, opts.home, ref.clip_id, ref.caption, lambda: latents, settings)
        timings["lora_load" if result.reused else "lora_train"] = time.perf_counter() - t
        record = result.record
        return MotionPrior(record.clip_id, str(result.folder), record.fingerprint, record.rank,
                           record.steps, result.reused, _last(record.loss_curve))

    @staticmethod
    def _run(loaded: LoadedPipeline, opts: MkrOptions, cond: Any, uncond: Any, latents: Any, frames: int,
             width: int, height: int, generator: Any, step_done: Any) -> np.ndarray:
        def on_step(pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            if step_done is not None:
                step_done(i + 1)
            return kwargs

        out = loaded.pipe(
            prompt_embeds=cond, negative_prompt_embeds=uncond, latents=latents,
            num_frames=frames, height=height, width=width, num_inference_steps=opts.steps,
            guidance_scale=opts.guidance, generator=generator, output_type="np",
            callback_on_step_end=on_step,
        ).frames[0]  # (F, H, W, 3) float in [0, 1]
        return (np.clip(out, 0.0, 1.0) * 255.0).round().astype(np.uint8)
