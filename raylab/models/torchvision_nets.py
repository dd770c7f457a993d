"""VGG-16 and GoogLeNet from torchvision, adapted to raylab's clip input and `features` contract.

The torchvision constructors are called with `weights=None` (nothing is ever downloaded) and
their own init; each net is cut into named stages so `features(x)` can return them. Input is an
image clip (B, 3, 1, H, W); frame 0 is used. Widths are torchvision's: width_mult must be 1.0.
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision import models

from raylab.models.layers import check_clip

# Smallest crops the nets accept: VGG-16 halves the side 5 times (floor), GoogLeNet's ceil-mode
# pools reach 1x1 from 15 px [D, checked in tests].
VGG16_MIN_CROP_PX = 32
GOOGLENET_MIN_CROP_PX = 15


class StagedNet(nn.Module):
    """A torchvision net re-expressed as named stages run in order, then a classifier `head`.

    `features` returns every stage's output (fc6/fc7 before their dropout, as in `FusionNet`);
    `forward` is the head on the last stage, i.e. exactly the torchvision forward pass.
    `source_keys` maps the torchvision net's state_dict keys to this net's, so a torchvision
    state_dict file loads into it (`raylab.models.finetune`).
    """

    def __init__(self, *, name: str, stages: dict[str, nn.Module], head: nn.Module,
                 source: nn.Module) -> None:
        super().__init__()
        self.name = name
        self.num_frames = 1
        self.stages = nn.ModuleDict(stages)
        self.head = head
        # The stages hold torchvision's own modules, so the same tensor sits under both names.
        ours = {id(t): k for k, t in self.state_dict(keep_vars=True).items()}
        self.source_keys = {k: ours[id(t)] for k, t in source.state_dict(keep_vars=True).items()
                            if id(t) in ours}

    def layer_blocks(self) -> dict[str, tuple[nn.Module, ...]]:
        """Stages with weights, bottom to top, then the classifier (the head)."""
        weighted = {k: (v,) for k, v in self.stages.items() if any(True for _ in v.parameters())}
        return {**weighted, "classifier": (self.head,)}

    def features(self, x: Tensor) -> dict[str, Tensor]:
        check_clip(self.name, x, channels=3, frames=1)
        h, out = x[:, :, 0], {}
        for name, stage in self.stages.items():
            h = out[name] = stage(h)
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.head(list(self.features(x).values())[-1])


def _check(name: str, *, crop_px: int, min_crop_px: int, width_mult: float) -> None:
    if width_mult != 1.0:
        raise ValueError(f"{name}: width_mult must be 1.0 (torchvision widths), got {width_mult}")
    if crop_px < min_crop_px:
        raise ValueError(f"{name}: crop_px must be >= {min_crop_px}, got {crop_px}")


def vgg16(
    *,
    num_classes: int,
    crop_px: int,
    width_mult: float = 1.0,
    dropout: float = 0.5,
) -> StagedNet:
    """VGG-16 (Simonyan & Zisserman 2015, config D, no batch norm), 138,357,544 parameters at
    1000 classes. Stages conv1..conv5 end at each max pool; then torchvision's adaptive 7x7
    average pool (so any crop >= 32 gives fc6 25088 inputs), fc6, fc7 and the classifier."""
    _check("vgg16", crop_px=crop_px, min_crop_px=VGG16_MIN_CROP_PX, width_mult=width_mult)
    net = models.vgg16(weights=None, num_classes=num_classes, dropout=dropout)
    stages: dict[str, nn.Module] = {}
    block: list[nn.Module] = []
    for layer in net.features:
        block.append(layer)
        if isinstance(layer, nn.MaxPool2d):
            stages[f"conv{len(stages) + 1}"] = nn.Sequential(*block)
            block = []
    fc6, relu6, drop6, fc7, relu7, drop7, fc8 = net.classifier
    stages["fc6"] = nn.Sequential(net.avgpool, nn.Flatten(1), fc6, relu6)
    stages["fc7"] = nn.Sequential(drop6, fc7, relu7)
    return StagedNet(name="vgg16", stages=stages, head=nn.Sequential(drop7, fc8), source=net)


def googlenet(
    *,
    num_classes: int,
    crop_px: int,
    width_mult: float = 1.0,
    dropout: float = 0.4,
) -> StagedNet:
    """GoogLeNet / Inception v1 (Szegedy et al. 2015) as torchvision builds it: with batch norm
    and without the two auxiliary classifiers; 6,624,904 parameters at 1000 classes.

    Stages: conv1, conv2 (each ending at its max pool), inception3, inception4 (ending at their
    max pools), inception5, pool (global average, flattened). Default dropout 0.4 is the paper's
    [U: not in PAPERS.md] (torchvision's is 0.2); build_model passes the config's ratio instead.
    """
    _check("googlenet", crop_px=crop_px, min_crop_px=GOOGLENET_MIN_CROP_PX, width_mult=width_mult)
    net = models.googlenet(weights=None, num_classes=num_classes, aux_logits=False,
                           transform_input=False, init_weights=True, dropout=dropout)
    stages: dict[str, nn.Module] = {
        "conv1": nn.Sequential(net.conv1, net.maxpool1),
        "conv2": nn.Sequential(net.conv2, net.conv3, net.maxpool2),
        "inception3": nn.Sequential(net.inception3a, net.inception3b, net.maxpool3),
        "inception4": nn.Sequential(net.inception4a, net.inception4b, net.inception4c,
                                    net.inception4d, net.inception4e, net.maxpool4),
        "inception5": nn.Sequential(net.inception5a, net.inception5b),
        "pool": nn.Sequential(net.avgpool, nn.Flatten(1)),
    }
    return StagedNet(name="googlenet", stages=stages, head=nn.Sequential(net.dropout, net.fc),
                     source=net)
