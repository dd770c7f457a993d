"""Small building blocks shared by the fusion networks: conv/FC blocks, LRN, pooling, init.

Each helper returns plain `torch.nn` modules so a printed model reads like the paper's layer
string. Nothing here knows about clips, time or model names (see `fusion.py` for that).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor, nn

# Local response normalisation, Karpathy et al. 2014 (PAPERS.md 3.2): k=2, n=5,
# alpha=1e-4, beta=0.5. The paper uses the AlexNet formula
#     b_c = a_c / (k + alpha * sum_{c' in window of n} a_c'^2) ** beta,
# whereas torch.nn.LocalResponseNorm computes k + (alpha / n) * sum(...). We keep the paper's
# literal formula, so torch is given alpha * n.
LRN_SIZE = 5
LRN_K = 2.0
LRN_ALPHA = 1e-4
LRN_BETA = 0.5  # Karpathy et al.; AlexNet (and ZF, CNN-M after it) use 0.75, see alexnet.py
LRN_TORCH_ALPHA = LRN_ALPHA * LRN_SIZE


@runtime_checkable
class StepConstrained(Protocol):
    """A model with a weight constraint to re-apply after every optimiser step (ZF-Net's filter
    RMS clamp, PAPERS.md 2.2). The training loop calls `constrain_()` on any model that has it
    (a `FusionNet` built without a constraint makes it a no-op); other models need nothing."""

    def constrain_(self) -> None: ...


def scaled_width(width: int, width_mult: float) -> int:
    """Paper width times `width_mult`, rounded to the nearest int and at least 1."""
    return max(1, round(width * width_mult))


def local_response_norm(*, beta: float = LRN_BETA) -> nn.LocalResponseNorm:
    """Across-channel LRN with k, n, alpha as above; works on (B, C, H, W) and (B, C, T, H, W).

    On 5-D input the window runs over channels only, so each time slice is normalised on its own.
    """
    return nn.LocalResponseNorm(LRN_SIZE, alpha=LRN_TORCH_ALPHA, beta=beta, k=LRN_K)


def max_pool_2x2() -> nn.MaxPool2d:
    """Non-overlapping 2x2 max pool (PAPERS.md 3.2, unlike AlexNet's 3/2).

    ceil_mode=True is our choice [U]: a 170 px crop then ends at 7x7 (floor mode gives 6x6), and
    odd sizes keep their border row/column instead of dropping it.
    """
    return nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)


def overlapping_max_pool(*, ceil_mode: bool = False) -> nn.MaxPool2d:
    """Overlapping max pool, window 3 stride 2 (PAPERS.md 1.2); ceil_mode is Caffe's rounding."""
    return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=ceil_mode)


def max_pool_2x2_per_frame() -> nn.MaxPool3d:
    """The same 2x2 pool applied to every time slice of a (B, C, T, H, W) tensor (time kept)."""
    return nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2), ceil_mode=True)


def conv2d_relu(
    in_channels: int, out_channels: int, *, kernel: int, stride: int = 1, padding: int = 0,
    groups: int = 1,
) -> nn.Sequential:
    """Conv2d (grouped when groups > 1) followed by ReLU (the papers put one after every layer)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding,
                  groups=groups),
        nn.ReLU(inplace=True),
    )


def conv3d_relu(
    in_channels: int,
    out_channels: int,
    *,
    kernel: tuple[int, int, int],
    stride: tuple[int, int, int],
    padding: tuple[int, int, int],
) -> nn.Sequential:
    """Conv3d over (time, height, width) followed by ReLU."""
    return nn.Sequential(
        nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=padding),
        nn.ReLU(inplace=True),
    )


def linear_relu(in_features: int, out_features: int) -> nn.Sequential:
    """A hidden fully connected layer with its ReLU (dropout is applied by the caller)."""
    return nn.Sequential(nn.Linear(in_features, out_features), nn.ReLU(inplace=True))


def check_clip(name: str, x: Tensor, *, channels: int, frames: int) -> None:
    """One-line ValueError unless x is a (B, channels, frames, H, W) clip tensor."""
    if x.dim() != 5 or x.shape[1] != channels:
        raise ValueError(f"{name}: expected a (B, {channels}, T, H, W) clip tensor, "
                         f"got shape {tuple(x.shape)}")
    if x.shape[2] != frames:
        raise ValueError(f"{name}: expected {frames} frames per clip, got {x.shape[2]}")


class FirstFrame(nn.Module):
    """(B, C, T, H, W) -> (B, C, H, W): keeps frame 0, for 2-D nets fed clip tensors."""

    def forward(self, x: Tensor) -> Tensor:
        return x[:, :, 0]


class DropTime(nn.Module):
    """(B, C, 1, H, W) -> (B, C, H, W): ends the 3-D part of a net once time is fully fused."""

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[2] != 1:
            raise ValueError(f"DropTime: expected 1 time step, got {x.shape[2]}")
        return x.squeeze(2)


def init_normal_(module: nn.Module, *, std: float) -> None:
    """Weights of every conv/linear layer ~ N(0, std), biases zero (in place)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def init_he_(module: nn.Module) -> None:
    """He-normal weights (fan-in, ReLU gain) for every conv/linear layer, biases zero (in place).

    Keeps activation variance roughly constant through ReLU layers, so a deep stack without
    batch norm starts learning at once."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
