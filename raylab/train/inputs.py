"""What turns a batch's frames into model inputs on the train worker: the training augmentation
and the evaluation view, chosen once before the loop from what the model reads (RGB clips, their
fovea and context views, or flow stacks) and the dataset kind (video clips or images). No Ray
here, so the plain-loop tests and benches build exactly what the workers build.
"""

from __future__ import annotations

from torch import nn

from raylab.config import ExperimentConfig
from raylab.data.augment import (
    CentreClipView,
    PcaLighting,
    TenCropView,
    TrainClipAugment,
    TrainImageAugment,
    pixel_mean_tensor,
)
from raylab.data.flow_augment import CentreFlowView, TrainFlowAugment
from raylab.data.multires_views import FoveaContextViews
from raylab.data.shards import DatasetKind
from raylab.models.build import StreamInput, stream_input


def input_modules(kind: DatasetKind, cfg: ExperimentConfig,
                  stats: dict | None) -> tuple[nn.Module, nn.Module]:
    """(training augmentation, evaluation view) for what cfg's model reads and the dataset kind;
    `stats` is an image dataset's pixel_stats (mean image, RGB eigenbasis) or None."""
    d = cfg.data
    source = stream_input(cfg.model.name)
    if source is StreamInput.FLOW:
        # Flow stacks: flips negate x, no pixel normalisation, no colour jitter (ECOSYSTEM.md 5;
        # the driver refuses data.colour_jitter for them, trainer.check_input_settings).
        return (TrainFlowAugment(crop_px=d.crop_px, flip_p=d.flip_p),
                CentreFlowView(crop_px=d.crop_px))
    if kind == DatasetKind.VIDEO:
        augment = TrainClipAugment(crop_px=d.crop_px, flip_p=d.flip_p, pixel_mean=d.pixel_mean,
                                   pixel_scale=d.pixel_scale, jitter=d.colour_jitter,
                                   crop_min_area=d.crop_min_area)
        view = CentreClipView(crop_px=d.crop_px, pixel_mean=d.pixel_mean,
                              pixel_scale=d.pixel_scale)
    else:
        mean = pixel_mean_tensor(d.mean_removal, pixel_mean=d.pixel_mean, stats=stats,
                                 resize_px=d.resize_px)
        lighting = (PcaLighting(std=d.pca_lighting_std, eigval=stats["rgb_eigval"],
                                eigvec=stats["rgb_eigvec"]) if d.pca_lighting_std > 0 else None)
        augment = TrainImageAugment(crop_px=d.crop_px, flip_p=d.flip_p, mean=mean,
                                    pixel_scale=d.pixel_scale, lighting=lighting,
                                    jitter=d.colour_jitter, crop_min_area=d.crop_min_area)
        view = TenCropView(crop_px=d.crop_px, mean=mean.clone(), pixel_scale=d.pixel_scale)
    if source is StreamInput.FOVEA_CONTEXT:
        # The views come from every crop after its flip (and each of the 10 test crops).
        return nn.Sequential(augment, FoveaContextViews()), nn.Sequential(view, FoveaContextViews())
    return augment, view
