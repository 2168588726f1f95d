"""Tiny, randomly initialised pipeline folders for tests, the bench and dry runs.

The folders hold real diffusers pipelines (real classes, real configs, real
`save_pretrained` layout) whose components are a few thousand parameters, so
the whole MKR path runs on a CPU in seconds. The tokenizers are built in code
(no download): a byte-level CLIP BPE for AnimateDiff and a small SentencePiece
style vocabulary for Wan's T5 encoder. Their output is noise: they exercise the
code, not the quality.

Example:
    >>> from kdcvg.generation.diffusion.tiny import save_tiny_pipeline
    >>> save_tiny_pipeline("/tmp/tiny-ad", kind="animatediff")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kdcvg.errors import GenerationError

TINY_KINDS = ("animatediff", "wan")


def _byte_chars() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for the bytes 0..255."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def byte_clip_tokenizer() -> Any:
    """A byte-level CLIP tokenizer with no merges: every byte is a token."""
    from transformers import CLIPTokenizer

    chars = _byte_chars()
    vocab: dict[str, int] = {}
    for token in ["<|startoftext|>", "<|endoftext|>", "!"] + chars + [c + "</w>" for c in chars]:
        vocab.setdefault(token, len(vocab))
    # model_max_length: without it the saved config holds a huge default (see NOTES.md)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77, pad_token="!")


def _t5_tokenizer() -> Any:
    """A T5 tokenizer over single characters and a few words."""
    from transformers import T5Tokenizer

    pieces = ["<pad>", "</s>", "<unk>"] + [f"▁{w}" for w in "a the of and with in on".split()]
    pieces += list("abcdefghijklmnopqrstuvwxyz0123456789.,!?-'") + ["▁"]
    vocab = [(p, 0.0 if i < 3 else -float(i)) for i, p in enumerate(pieces)]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def _animatediff_components(seed: int) -> dict[str, Any]:
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        MotionAdapter,
        UNet2DConditionModel,
        UNetMotionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = byte_clip_tokenizer()
    torch.manual_seed(seed)
    unet2d = UNet2DConditionModel(
        block_out_channels=(8, 8), layers_per_block=1, sample_size=8, in_channels=4,
        out_channels=4, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=8,
        norm_num_groups=2, attention_head_dim=2,
    )
    adapter = MotionAdapter(
        block_out_channels=(8, 8), motion_layers_per_block=1, motion_norm_num_groups=2,
        motion_num_attention_heads=2, motion_max_seq_length=32,
    )
    unet = UNetMotionModel.from_unet2d(unet2d, adapter)
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        block_out_channels=(8, 8), in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), latent_channels=4,
        norm_num_groups=2, sample_size=32,
    )
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=2, hidden_size=8, intermediate_size=16,
        num_attention_heads=2, num_hidden_layers=2, vocab_size=len(tokenizer),
        max_position_embeddings=77, layer_norm_eps=1e-5,
    ))
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="linear", clip_sample=False,
        steps_offset=1, set_alpha_to_one=False,
    )
    return {"unet": unet, "motion_adapter": None, "vae": vae, "text_encoder": text_encoder,
            "tokenizer": tokenizer, "scheduler": scheduler, "feature_extractor": None,
            "image_encoder": None}


def _wan_components(seed: int) -> dict[str, Any]:
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = _t5_tokenizer()
    torch.manual_seed(seed)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(UMT5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
    ))
    torch.manual_seed(seed)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16,
        out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    )
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    return {"transformer": transformer, "transformer_2": None, "vae": vae,
            "text_encoder": text_encoder, "tokenizer": tokenizer, "scheduler": scheduler}


def build_tiny_pipeline(kind: str = "animatediff", seed: int = 0) -> Any:
    """Build a tiny random pipeline in memory (see `save_tiny_pipeline`)."""
    if kind not in TINY_KINDS:
        raise GenerationError(
            f"tiny pipeline kind {kind!r} is unknown; expected one of {TINY_KINDS}"
        )
    if kind == "animatediff":
        from diffusers import AnimateDiffPipeline

        return AnimateDiffPipeline(**_animatediff_components(seed))
    from diffusers import WanPipeline

    return WanPipeline(**_wan_components(seed))


def save_tiny_pipeline(
    folder: str | os.PathLike[str], kind: str = "animatediff", seed: int = 0
) -> Path:
    """Write a tiny random pipeline folder that `load_pipeline` accepts.

    Args:
        folder: where to write it (created; must be empty or absent).
        kind: "animatediff" (UNetMotionModel + DDIM) or "wan" (Wan 2.1 + flow matching).
        seed: seeds the random weights; the same seed writes the same weights.

    Returns:
        The folder.

    Raises:
        GenerationError: unknown kind or a non-empty folder.
    """
    out = Path(folder)
    if out.exists() and any(out.iterdir()):
        raise GenerationError(
            f"{out}: folder is not empty; give a new folder for the tiny pipeline"
        )
    pipe = build_tiny_pipeline(kind, seed)
    out.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(out)
    return out
