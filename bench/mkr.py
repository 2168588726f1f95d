"""MKR's overhead on the tiny pipelines, as ratios to the plain pipeline in the same run.

    .venv/bin/python bench/mkr.py [--kind animatediff|wan] [--steps 10] [--repeats 3]

Measures (medians of --repeats): the plain pipeline (beta = 0, no LoRA), the
script prior, the VAE encode of the reference, the inversion (inversion_steps
= steps, refine 0, so it mirrors the paper's 30 + 30), a LoRA load, and
MR-LoRA training steps/s. Timings swing between runs on shared machines:
compare the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    import numpy as np
    import torch

    from kdcvg.generation.diffusion import inversion as inv
    from kdcvg.generation.diffusion import lora, script
    from kdcvg.generation.diffusion.pipelines import load_pipeline
    from kdcvg.generation.diffusion.tiny import save_tiny_pipeline
    from kdcvg.media.video import write_mp4
    from kdcvg.retrieval.scenes import ProductInfo, Reference

    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", default="animatediff", choices=["animatediff", "wan"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lora-steps", type=int, default=20)
    args = ap.parse_args()
    frames = 16 if args.kind == "animatediff" else 17
    size = 64
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_tiny_pipeline(Path(tmp) / "model", kind=args.kind)
        clip = Path(tmp) / "ref.mp4"
        write_mp4(clip, [np.roll(np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4,
                                         (64, 1, 3)), 3 * i, axis=1) for i in range(24)], fps=8)
        loaded = load_pipeline(folder, device="cpu")
        ref = Reference("c1", str(clip), "a hand pours water into a glass on a table", 1.0)
        product = ProductInfo("p1", "AquaPure", "Acme", category="beverage")

        def timed(fn) -> float:  # type: ignore[no-untyped-def]
            runs = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                fn()
                runs.append(time.perf_counter() - t)
            return statistics.median(runs)

        prior = script.script_prior(ref, product, "keeps drinks cold")
        cond, _ = inv.encode_prompt(loaded, prior.prompt)
        pixels = inv.reference_frames(clip, frames, size, size)
        latents = inv.encode_video(loaded, pixels)
        plain = timed(lambda: loaded.pipe(
            prompt_embeds=cond, num_frames=frames, height=size, width=size,
            num_inference_steps=args.steps, guidance_scale=1.0, output_type="np",
            generator=torch.Generator().manual_seed(0)))
        t_script = timed(lambda: script.script_prior(ref, product, "keeps drinks cold"))
        t_read = timed(lambda: inv.reference_frames(clip, frames, size, size))
        t_vae = timed(lambda: inv.encode_video(loaded, pixels))
        t_inv = timed(lambda: inv.invert(loaded, latents, cond, args.steps))
        record = lora.train_mr_lora(loaded, latents, cond, "c1",
                                    lora.LoraSettings(rank=8, steps=2, lr=1e-4))
        saved = lora.save_mr_lora(loaded, record, Path(tmp) / "lora")
        lora.detach_mr_lora(loaded)

        def load_detach() -> None:
            lora.load_mr_lora(loaded, saved)
            lora.detach_mr_lora(loaded)

        t_lora = timed(load_detach)
        t = time.perf_counter()
        lora.train_mr_lora(loaded, latents, cond, "c1",
                           lora.LoraSettings(rank=8, steps=args.lora_steps, lr=1e-4))
        train_sps = args.lora_steps / (time.perf_counter() - t)
        lora.detach_mr_lora(loaded)
    overhead = t_script + t_read + t_vae + t_lora
    print(f"kind={args.kind} frames={frames} size={size} steps={args.steps} (CPU, 2 threads)")
    print(f"plain pipeline          {plain:8.3f} s   1.00x")
    for name, value in [("script prior", t_script), ("read reference", t_read),
                        ("VAE encode", t_vae), ("LoRA load+detach", t_lora),
                        ("MKR overhead w/o inv.", overhead), ("inversion", t_inv)]:
        print(f"{name:<23} {value:8.3f} s   {value / plain:.3f}x")
    print(f"MR-LoRA training        {train_sps:8.2f} steps/s (rank 8)")


if __name__ == "__main__":
    main()
