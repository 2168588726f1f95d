"""MKR on a full-size, randomly initialised AnimateDiff: seconds per video and peak GPU memory.

    python bench/mkr_full.py [--device cuda] [--steps 30] [--lora-steps 60] [--repeats 3]
                             [--set offload=model --set vae_slicing=on]

The pipeline has Stable Diffusion 1.5's and AnimateDiff's real layer sizes
(UNet 320-640-1280-1280 with motion modules, VAE 128-256-512-512, a 12-layer
768-wide CLIP text encoder) with random weights, saved to a folder and loaded
back through `load_pipeline`, so the timings are those of a real model of that
size (the output is noise). Each video goes through `DiffusersGenerator`, the
code `kdcvg generate ad --backend diffusers` runs, 16 frames of 512x512:

- plain: beta = 0, no MR-LoRA (the pipeline alone);
- MKR: script prior, VAE encode of the reference, inversion (as many steps as
  denoising, as the paper's 30 + 30), mixed initial noise;
- MKR + MR-LoRA: the same with the clip's LoRA (rank 128) trained once on the
  first video (--lora-steps, extrapolated to the paper's 400) and reused after.

Peak memory is `torch.cuda.max_memory_allocated` per phase. `--device cpu
--size 64 --frames 2 --steps 1` checks the script itself on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def save_full_size_animatediff(folder: Path, device: str) -> Path:
    """Write a randomly initialised AnimateDiff folder with real layer sizes (float16)."""
    import torch
    from diffusers import (
        AnimateDiffPipeline,
        AutoencoderKL,
        DDIMScheduler,
        MotionAdapter,
        UNet2DConditionModel,
        UNetMotionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    from kdcvg.generation.diffusion.tiny import byte_clip_tokenizer

    torch.manual_seed(0)
    with torch.device(device):  # random init where the model will run: seconds, not minutes
        unet2d = UNet2DConditionModel(sample_size=64, cross_attention_dim=768)
        unet = UNetMotionModel.from_unet2d(unet2d, MotionAdapter())
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            sample_size=512)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=49408, hidden_size=768, intermediate_size=3072, num_attention_heads=12,
            num_hidden_layers=12, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
            pad_token_id=2))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, steps_offset=1, set_alpha_to_one=False)
    pipe = AnimateDiffPipeline(unet=unet, vae=vae, text_encoder=text_encoder,
                               tokenizer=byte_clip_tokenizer(), scheduler=scheduler,
                               motion_adapter=None, feature_extractor=None, image_encoder=None)
    pipe.to("cpu", torch.float16)
    pipe.save_pretrained(folder)
    return folder


def main() -> None:
    import numpy as np
    import torch

    from kdcvg.errors import GenerationError
    from kdcvg.generation.base import AdJob
    from kdcvg.generation.diffusion.backend import DiffusersGenerator, parse_options
    from kdcvg.media.video import write_mp4
    from kdcvg.retrieval.scenes import ProductInfo, Reference, Scene

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--lora-steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a further backend option, e.g. offload=model or vae_slicing=on")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise SystemExit("bench/mkr_full.py needs a CUDA device (or --device cpu --size 64 "
                         "--frames 2 --steps 1 to check the script itself)")
    results: dict[str, Any] = {"device": torch.cuda.get_device_name() if cuda else "cpu",
                               "frames": args.frames, "size": args.size, "steps": args.steps,
                               "options": args.set}

    def peak_reset() -> None:
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def peak_gib() -> float:
        return torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        folder = save_full_size_animatediff(Path(tmp) / "model", args.device)
        results["build_and_save_s"] = time.perf_counter() - t
        clip = Path(tmp) / "ref.mp4"
        ramp = np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (64, 1, 3))
        write_mp4(clip, [np.roll(ramp, 3 * i, axis=1) for i in range(24)], fps=8)
        product = ProductInfo("p1", "AquaPure", "Acme", category="beverage")
        scene = Scene("keeps drinks cold for 24 hours", "sp1",
                      (Reference("c1", str(clip), "a hand pours water into a glass", 1.0),))
        base = {"model": str(folder), "device": args.device, "steps": args.steps,
                "inversion_steps": args.steps, "frames": args.frames, "width": args.size,
                "height": args.size, "home": str(Path(tmp) / "home"), "lora_rank": 128,
                "lora_steps": args.lora_steps, **dict(kv.split("=", 1) for kv in args.set)}
        gen = DiffusersGenerator()
        t = time.perf_counter()
        loaded = gen.load(parse_options(base))
        results["load_s"] = time.perf_counter() - t
        results["parameters_m"] = sum(p.numel() for p in loaded.pipe.unet.parameters()) / 1e6

        def video(**options: Any) -> tuple[float, dict[str, Any]]:
            job = AdJob("p1", ("s",), seed=0, options={**base, **options})
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = gen.generate(job, product, [scene], (args.size, args.size))
            frames = list(out.frames)
            if cuda:
                torch.cuda.synchronize()
            assert len(frames) == args.frames
            return time.perf_counter() - t0, out.metadata["scenes"][0]

        def phase(name: str, repeats: int, **options: Any) -> dict[str, Any]:
            peak_reset()
            runs = [video(**options) for _ in range(repeats)]
            row = {"seconds": statistics.median(s for s, _ in runs), "peak_gib": peak_gib(),
                   "timings_s": runs[-1][1]["timings_s"]}
            results[name] = row
            print(f"{name:<22} {row['seconds']:7.2f} s/video  peak {row['peak_gib']:6.2f} GiB  "
                  f"{row['timings_s']}", flush=True)
            return row

        video(beta=0.0)  # warm-up: kernels, allocator
        plain = phase("plain", args.repeats, beta=0.0)
        phase("mkr", args.repeats, beta=0.7)
        peak_reset()
        try:
            seconds, scene_meta = video(beta=0.7, lora="on")  # trains and saves the MR-LoRA
        except GenerationError as e:  # e.g. out of memory: the numbers above still stand
            results["lora_error"] = str(e)
            print(f"MR-LoRA training failed: {e}", flush=True)
        else:
            train_s = scene_meta["timings_s"]["lora_train"]
            results["lora_first_video"] = {
                "seconds": seconds, "peak_gib": peak_gib(), "lora_train_s": train_s,
                "lora_steps_per_s": args.lora_steps / train_s,
                "lora_400_steps_s_extrapolated": 400 * train_s / args.lora_steps}
            print(f"{'mkr + lora (training)':<22} {seconds:7.2f} s/video  peak {peak_gib():6.2f} "
                  f"GiB  {args.lora_steps / train_s:.2f} MR-LoRA steps/s", flush=True)
            phase("mkr_lora_reused", args.repeats, beta=0.7, lora="on")
    print(f"\nplain {plain['seconds']:.2f} s; MKR {results['mkr']['seconds'] / plain['seconds']:.2f}x")
    if "mkr_lora_reused" in results:
        print(f"MKR + reused LoRA {results['mkr_lora_reused']['seconds'] / plain['seconds']:.2f}x; "
              "the first video of a clip adds MR-LoRA training: about "
              f"{results['lora_first_video']['lora_400_steps_s_extrapolated']:.0f} s at 400 steps")
    print(f"{results['parameters_m']:.0f} M UNet parameters, load {results['load_s']:.1f} s, "
          f"build {results['build_and_save_s']:.1f} s, on {results['device']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
