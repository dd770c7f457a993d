"""The multiresolution net's inputs (PAPERS.md 3.4): fovea = the centre half-side square at full
resolution, context = the whole crop area-downsampled by 2, cut after the crop and flip."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from raylab.config import DataConfig, ExperimentConfig, ModelConfig, ModelName
from raylab.data.augment import TrainClipAugment
from raylab.data.multires_views import FoveaContextViews
from raylab.data.shards import DatasetKind
from raylab.train.inputs import input_modules


def test_the_paper_sizes_178_px_crops_give_two_89_px_views():
    crops = torch.randn(2, 3, 1, 178, 178)
    views = FoveaContextViews()(crops)
    assert views.shape == (2, 6, 1, 89, 89)
    # (178 - 89) // 2 = 44: rows and columns 44..132 of the crop, exactly.
    assert torch.equal(views[:, :3], crops[..., 44:133, 44:133])
    area = F.interpolate(crops[:, :, 0], size=(89, 89), mode="area")
    torch.testing.assert_close(views[:, 3:, 0], area)
    torch.testing.assert_close(views[1, 4, 0, 10, 20], crops[1, 1, 0, 20:22, 40:42].mean())


def test_odd_crops_give_floor_half_views():
    views = FoveaContextViews()(torch.randn(1, 3, 1, 177, 177))
    assert views.shape == (1, 6, 1, 88, 88)


def test_both_views_get_the_clip_s_flip():
    torch.manual_seed(0)
    frames = torch.randint(0, 256, (1, 1, 40, 40, 3), dtype=torch.uint8).expand(
        32, 1, 40, 40, 3).contiguous()
    augment = nn.Sequential(TrainClipAugment(crop_px=40, flip_p=0.5, pixel_mean=0.0,
                                             pixel_scale=1.0), FoveaContextViews())
    out = augment(frames)
    crop = frames[:1].permute(0, 4, 1, 2, 3).float()  # (1, 3, 1, 40, 40)
    plain, mirrored = FoveaContextViews()(crop), FoveaContextViews()(crop.flip(-1))
    fovea_flipped = [torch.equal(o[:3], mirrored[0, :3]) for o in out]
    context_flipped = [torch.equal(o[3:], mirrored[0, 3:]) for o in out]
    assert fovea_flipped == context_flipped and 0 < sum(fovea_flipped) < len(out)
    assert all(torch.equal(o, plain[0]) for o, f in zip(out, fovea_flipped) if not f)


@pytest.mark.parametrize(("kind", "views_per_clip"), [(DatasetKind.VIDEO, 1),
                                                      (DatasetKind.IMAGE, 10)])
def test_the_multires_model_gets_views_in_training_and_evaluation(kind, views_per_clip):
    cfg = ExperimentConfig(model=ModelConfig(name=ModelName.MULTIRES),
                           data=DataConfig(resize_px=56, crop_px=48))
    augment, view = input_modules(kind, cfg, stats=None)
    frames = torch.randint(0, 256, (3, 1, 56, 56, 3), dtype=torch.uint8)
    assert augment(frames).shape == (3, 6, 1, 24, 24)
    assert view(frames).shape == (3 * views_per_clip, 6, 1, 24, 24)
    single = ExperimentConfig(data=cfg.data)  # the other RGB nets get the crop itself
    assert input_modules(kind, single, stats=None)[0](frames).shape == (3, 3, 1, 48, 48)
