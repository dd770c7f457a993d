"""Mixed precision and memory layout, decided once per worker before the loop runs.

`Compute` holds the autocast dtype, the gradient scaler and the memory format; the loop calls
them the same way whatever they are (a disabled autocast and a disabled scaler are pass-throughs).
On a CPU worker bf16 autocast runs (PyTorch has CPU bf16 kernels); fp16 falls back to fp32
there (CPU float16 convolutions are slow or missing, and a gradient scaler exists for CUDA's
float16 underflow) and channels_last is left off (no CPU kernel gains from it here).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from raylab.config import Precision

DTYPES = {Precision.FP32: torch.float32, Precision.BF16: torch.bfloat16,
          Precision.FP16: torch.float16}


@dataclass
class Compute:
    device_type: str
    dtype: torch.dtype
    """Autocast dtype; float32 means autocast is off."""
    channels_last: bool
    scaler: torch.amp.GradScaler
    """Loss scaling, enabled only for float16 (bf16 has float32's exponent range)."""

    @property
    def autocast_enabled(self) -> bool:
        return self.dtype != torch.float32

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.autocast_enabled)

    def backward_step(self, loss: Tensor, optimizer: torch.optim.Optimizer) -> None:
        """backward + step; a disabled scaler passes the loss and the step through unchanged."""
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def apply_layout_(self, model: nn.Module) -> None:
        """Conv weights to the channels-last layout (before DDP wraps the model)."""
        if self.channels_last:
            to_channels_last_(model)

    def layout(self, clips: Tensor) -> Tensor:
        """(B, C, T, H, W) clips in NDHWC order when channels_last; slicing frame 0 of such a
        tensor is already NHWC for the 2-D nets."""
        if not self.channels_last:
            return clips
        return clips.contiguous(memory_format=torch.channels_last_3d)


def compute_for(device: torch.device, precision: Precision, channels_last: bool) -> Compute:
    on_gpu = device.type == "cuda"
    if precision == Precision.FP16 and not on_gpu:
        print("precision: fp16 needs a GPU; this CPU worker runs fp32", flush=True)
        precision = Precision.FP32
    dtype = DTYPES[precision]
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    return Compute(device.type, dtype, channels_last and on_gpu, scaler)


@torch.no_grad()
def to_channels_last_(model: nn.Module) -> None:
    """Conv weights NHWC (4-D) or NDHWC (5-D) in place, keeping each Parameter object (so an
    optimiser built earlier still holds them). `Module.to(memory_format=channels_last)` would
    fail on the Conv3d weights of the fusion nets."""
    formats = {4: torch.channels_last, 5: torch.channels_last_3d}
    for p in model.parameters():
        if p.dim() in formats:
            p.data = p.data.contiguous(memory_format=formats[p.dim()])
