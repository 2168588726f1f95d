"""`kdcvg generate distill`: train the MR-LoRA of one clip for one model, ahead of time.

A one-command Typer app that the generation CLI adds to `kdcvg generate` with
`add_typer`, as `kdcvg.cli` adds the other sub-apps. The module imports
nothing heavy; the work happens in `service.py` and `lora.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kdcvg.cli_options import id_option
from kdcvg.graph.cli_common import DbOption, Neo4jOption

distill_app = typer.Typer()


@distill_app.command("distill")
def distill(
    clip: Annotated[str, typer.Option("--clip", help="Clip id in the knowledge graph.",
                                      callback=id_option)],
    model: Annotated[Path, typer.Option("--model", exists=True, file_okay=False,
                                        help="Local diffusers pipeline folder "
                                        "(AnimateDiffPipeline or WanPipeline).")],
    db: DbOption = None,
    neo4j: Neo4jOption = None,
    steps: Annotated[int, typer.Option(min=1, help="Training steps (paper: 400).")] = 400,
    rank: Annotated[int, typer.Option(min=1, help="LoRA rank (paper: 128).")] = 128,
    lr: Annotated[float, typer.Option(min=0.0, help="Adam learning rate (paper: 1e-4).")] = 1e-4,
    frames: Annotated[int | None, typer.Option(
        help="Reference frames [default: 16 AnimateDiff, 17 Wan].")] = None,
    width: Annotated[int, typer.Option(help="Frame width the reference is encoded at.")] = 512,
    height: Annotated[int, typer.Option(help="Frame height the reference is encoded at.")] = 512,
    fps: Annotated[float, typer.Option(help="Frames per second sampled from the clip.")] = 8.0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    dtype: Annotated[str, typer.Option(help="auto, float32, float16 or bfloat16.")] = "auto",
    force: Annotated[bool, typer.Option("--force", help="Retrain even if a LoRA exists.")] = False,
) -> None:
    """Distill a clip's motion into an MR-LoRA saved under the store folder's loras/."""
    from kdcvg.generation.diffusion.lora import LoraSettings
    from kdcvg.generation.diffusion.service import distill_clip
    from kdcvg.graph.cli_common import store_config, store_from_options

    home = store_config(db, neo4j).home
    with store_from_options(db, neo4j) as store:
        rows = store.query("mkr_clip_for_distill", clip=clip)
    if not rows:
        raise typer.BadParameter(f"no clip with id {clip!r} in the graph", param_hint="--clip")
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("distilling {task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total} loss {task.fields[loss]}"),
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task(clip, total=steps, loss="-")

        def tick(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, loss=f"{loss:.4g}")

        result = distill_clip(
            model, rows[0]["id"], rows[0]["uri"], rows[0]["caption"], home,
            LoraSettings(rank=rank, steps=steps, lr=lr), frames=frames, width=width,
            height=height, fps=fps, device=device, dtype=dtype, force=force, progress=tick)
    curve = result.record.loss_curve
    if result.reused:
        typer.echo(f"MR-LoRA for clip {clip} already at {result.folder} (use --force to retrain)")
        return
    marks = [curve[int(i * (len(curve) - 1) / 4)] for i in range(5)] if curve else []
    typer.echo(f"MR-LoRA for clip {clip}: {result.folder}")
    typer.echo("loss curve (L_md, start to end): " + " ".join(f"{v:.4g}" for v in marks))
