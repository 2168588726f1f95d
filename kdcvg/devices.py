"""One helper resolves `device="auto"`: CUDA when present, otherwise CPU."""

from kdcvg.errors import KdcvgError


def resolve_device(device: str = "auto") -> str:
    """Return "cuda" or "cpu" (or the given "cuda:N").

    Raises:
        KdcvgError: CUDA was asked for and is not available.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise KdcvgError(f"device {device!r} asked for, but no CUDA device is available; "
                         "use --device cpu or auto")
    if device != "cpu" and not device.startswith("cuda"):
        raise KdcvgError(f"device {device!r} is not known; expected auto, cpu, cuda or cuda:N")
    return device
