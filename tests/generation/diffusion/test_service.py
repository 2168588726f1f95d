from pathlib import Path

from kdcvg.generation.diffusion.lora import LoraSettings, read_record
from kdcvg.generation.diffusion.pipelines import model_fingerprint
from kdcvg.generation.diffusion.service import distill_clip


def test_distill_saves_per_clip_and_model_then_reuses(tiny_folders: dict[str, Path],
                                                      reference_clip: Path, tmp_path: Path) -> None:
    calls: list[int] = []
    args = (tiny_folders["wan"], "clip-9", str(reference_clip), "a square slides", tmp_path,
            LoraSettings(rank=2, steps=3, lr=1e-3))
    first = distill_clip(*args, frames=9, width=32, height=32, device="cpu",
                         progress=lambda s, t, loss: calls.append(s))
    assert first.folder == tmp_path / "loras" / model_fingerprint(tiny_folders["wan"]) / "clip-9"
    assert (first.reused, calls) == (False, [1, 2, 3])
    assert read_record(first.folder).loss_curve == first.record.loss_curve
    again = distill_clip(*args, frames=9, width=32, height=32, device="cpu")
    assert again.reused and again.record.loss_curve == first.record.loss_curve
