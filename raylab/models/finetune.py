"""Transfer learning on a built model: load pre-trained tensors, freeze by depth, LR groups.

"Layers from the top" are the model's own `layer_blocks()` (conv1 .. fc7, classifier for the
paper nets; VGG/GoogLeNet stages; multires stages span both streams), so depth means the same
thing for every model in `build.MODELS`. A classifier whose shape differs from the source's
(another class count) keeps its fresh init; any other shape difference is an error naming the
tensor. Reading checkpoints, run dirs or MLflow runs into a state_dict is not here
(`raylab.train.pretrained`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torch import Tensor, nn

from raylab.config import ConfigError, FinetuneDepth, TransferConfig

CLASSIFIER = "classifier"  # every model's top block; transfer replaces it for a new class set
LR_MULT = "lr_mult"  # param-group key: the group's rate is the schedule's rate times this
_SHOWN = 4  # tensor names printed per summary line before "..."


def layer_blocks(model: nn.Module) -> dict[str, list[str]]:
    """{block: its parameter and buffer names}, bottom to top, from `model.layer_blocks()`."""
    if not hasattr(model, "layer_blocks"):
        raise ConfigError(f"transfer: {type(model).__name__} has no layer_blocks(); fine-tuning "
                          "needs the model's ordered layers")
    names = {id(t): k for k, t in model.state_dict(keep_vars=True).items()}
    out: dict[str, list[str]] = {}
    for block, modules in model.layer_blocks().items():
        out[block] = [names[id(t)] for m in modules for t in m.state_dict(keep_vars=True).values()]
    return out


def trainable_blocks(model: nn.Module, depth: FinetuneDepth, top_k: int) -> list[str]:
    """The blocks that train at `depth`, bottom to top."""
    blocks = list(layer_blocks(model))
    count = {FinetuneDepth.SCRATCH: len(blocks), FinetuneDepth.ALL: len(blocks),
             FinetuneDepth.LAST_LAYER: 1, FinetuneDepth.TOP_K: top_k}[depth]
    if count > len(blocks):
        raise ConfigError(f"transfer.top_k: expected at most {len(blocks)} (the layers of "
                          f"{getattr(model, 'name', type(model).__name__)}), got {count}")
    return blocks[len(blocks) - count:]


@dataclass(frozen=True)
class TransferReport:
    """What loading and freezing did, tensor by tensor (names are the model's keys)."""

    source: str
    loaded: list[str]
    reinitialised: list[str]
    """Classifier tensors the source lacks or has in another shape: fresh init kept."""
    ignored: list[str]
    """Source tensors the model has no place for (e.g. torchvision GoogLeNet's aux heads)."""
    frozen: list[str]

    def summary(self) -> str:
        def line(label: str, names: list[str]) -> str:
            more = f", ... (+{len(names) - _SHOWN})" if len(names) > _SHOWN else ""
            return f"  {label:<14} {len(names):>4}  {', '.join(names[:_SHOWN])}{more}"

        return "\n".join([f"transfer from {self.source}:",
                          line("loaded", self.loaded),
                          line("re-initialised", self.reinitialised),
                          line("ignored", self.ignored),
                          line("frozen", self.frozen)])


def load_pretrained(model: nn.Module, state: Mapping[str, Tensor], *, source: str
                    ) -> tuple[list[str], list[str], list[str]]:
    """Copy `state` into `model` in place; returns (loaded, re-initialised, ignored) names.

    Keys are the model's own or, for torchvision-backed nets, torchvision's (`source_keys`).
    """
    own = model.state_dict()
    aliases = getattr(model, "source_keys", {})
    head = set(layer_blocks(model)[CLASSIFIER])
    found: dict[str, Tensor] = {}
    ignored: list[str] = []
    for key, tensor in state.items():
        name = key if key in own else aliases.get(key)
        if name is None:
            ignored.append(key)
        else:
            found[name] = tensor
    if not found:
        raise ConfigError(f"transfer.init_from: {source}: none of its {len(state)} tensors "
                          f"(e.g. {next(iter(state), '-')}) is a tensor of "
                          f"{getattr(model, 'name', type(model).__name__)}")
    loaded, reinit = [], []
    for name, target in own.items():
        tensor = found.get(name)
        if name in head and (tensor is None or tensor.shape != target.shape):
            reinit.append(name)
            continue
        if tensor is None:
            raise ConfigError(f"transfer.init_from: {source}: has no tensor {name}, which "
                              f"{getattr(model, 'name', type(model).__name__)} needs")
        if tensor.shape != target.shape:
            raise ConfigError(f"transfer.init_from: {source}: tensor {name} has shape "
                              f"{tuple(tensor.shape)}, the model needs {tuple(target.shape)}")
        loaded.append(name)
    model.load_state_dict({k: found[k] for k in loaded}, strict=False)
    return loaded, reinit, ignored


def freeze_below(model: nn.Module, trainable: list[str]) -> list[str]:
    """requires_grad False on every block not in `trainable`; returns the frozen tensor names.

    Batch-norm layers in frozen blocks (GoogLeNet) keep their pre-trained running statistics
    (momentum 0): the loop puts the model in train mode, which would otherwise update them.
    """
    frozen: list[str] = []
    params = dict(model.named_parameters())
    blocks = model.layer_blocks()
    for block, names in layer_blocks(model).items():
        if block in trainable:
            continue
        for name in names:
            if name in params:
                params[name].requires_grad_(False)
            frozen.append(name)
        for module in blocks[block]:
            for m in module.modules():
                if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                    m.momentum = 0.0
    return frozen


def param_groups(model: nn.Module, cfg: TransferConfig) -> list[dict]:
    """Optimiser groups of the trainable parameters: the classifier at LR multiplier 1, every
    other trainable block at cfg.pretrained_lr_mult (the lecture's lower rate for pre-trained
    layers; 1 when training from scratch). Frozen parameters are left out."""
    mult = 1.0 if cfg.depth == FinetuneDepth.SCRATCH else cfg.pretrained_lr_mult
    names = layer_blocks(model)
    params = dict(model.named_parameters())
    head = [params[n] for n in names[CLASSIFIER] if n in params and params[n].requires_grad]
    body = [params[n] for block, ns in names.items() if block != CLASSIFIER
            for n in ns if n in params and params[n].requires_grad]
    groups = [{"params": head, LR_MULT: 1.0, "name": CLASSIFIER}]
    if body:
        groups.insert(0, {"params": body, LR_MULT: mult, "name": "pretrained"})
    return groups


def prepare_transfer(model: nn.Module, cfg: TransferConfig, state: Mapping[str, Tensor] | None,
                     *, source: str) -> TransferReport:
    """Load `state` (None for depth=scratch) and freeze everything below `cfg.depth`.

    A pre-trained LR multiplier of 0 freezes every pre-trained layer (stage 1 of two-stage
    fine-tuning), so no gradient is computed for them at all."""
    if cfg.depth == FinetuneDepth.SCRATCH:
        return TransferReport("random init (scratch)", [], list(model.state_dict()), [], [])
    if state is None:
        raise ValueError(f"prepare_transfer: transfer.depth={cfg.depth.value} needs a state")
    loaded, reinit, ignored = load_pretrained(model, state, source=source)
    trainable = trainable_blocks(model, cfg.depth, cfg.top_k)
    if cfg.pretrained_lr_mult == 0:
        trainable = [CLASSIFIER]
    frozen = freeze_below(model, trainable)
    return TransferReport(source, loaded, reinit, ignored, frozen)
