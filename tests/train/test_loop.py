"""The plain PyTorch loop (no Ray): it learns, it ignores undecodable clips, checkpoints restore."""

import torch

from raylab.config import ModelConfig, ModelName, OptimConfig
from raylab.data.augment import CentreClipView, TrainClipAugment
from raylab.models.build import build_model
from raylab.train import checkpoint as ckpt
from raylab.train.loop import evaluate, train_epoch
from raylab.train.optim import lr_at, make_optimizer


def _batches(n, *, bad_every=0, seed=0):
    """uint8 clips: class 0 dark frames, class 1 bright frames; some marked undecodable."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for b in range(n):
        labels = torch.randint(0, 2, (8,), generator=g)
        frames = (labels.view(8, 1, 1, 1, 1) * 120 + 60
                  + torch.randint(0, 40, (8, 1, 40, 40, 3), generator=g)).to(torch.uint8)
        ok = torch.ones(8, dtype=torch.bool)
        if bad_every:
            ok[::bad_every] = False
        out.append({"video_id": [f"v{b}_{i}" for i in range(8)], "label": labels,
                    "frames": frames, "decode_ok": ok})
    return out


def _model():
    torch.manual_seed(0)
    return build_model(ModelConfig(name=ModelName.SINGLE_FRAME, width_mult=0.125, dropout=0.0),
                       num_classes=2, crop_px=32)


def test_train_epoch_learns_and_counts_decode_failures():
    model = _model()
    opt = make_optimizer(model, OptimConfig(lr=0.01))
    aug = TrainClipAugment(crop_px=32, flip_p=0.5, pixel_mean=117, pixel_scale=64)
    data = _batches(30, bad_every=4)
    first = train_epoch(model, data[:5], augment=aug, optimizer=opt, device=torch.device("cpu"),
                        num_steps=5)
    for _ in range(3):
        last = train_epoch(model, data, augment=aug, optimizer=opt, device=torch.device("cpu"),
                           num_steps=30)
    assert last.loss < first.loss
    assert last.clip_acc > 0.95
    assert last.decode_failures == 30 * 2  # 2 of every 8 clips are marked bad
    assert last.clips == 30 * 6


def test_evaluate_skips_bad_clips_and_keeps_ids():
    model = _model()
    view = CentreClipView(crop_px=32, pixel_mean=117, pixel_scale=64)
    scores, failures = evaluate(model, _batches(2, bad_every=2), view=view,
                                device=torch.device("cpu"))
    assert failures == 8
    assert len(scores.video_ids) == 8 and scores.probs.shape == (8, 2)
    assert all(v.endswith(("_1", "_3", "_5", "_7")) for v in scores.video_ids)


def test_checkpoint_round_trip_is_identity(tmp_path):
    model, other = _model(), build_model(
        ModelConfig(name=ModelName.SINGLE_FRAME, width_mult=0.125), num_classes=2, crop_px=32)
    opt = make_optimizer(model, OptimConfig())
    ckpt.save(tmp_path, model, opt, ckpt.TrainState(next_epoch=3, best_metric=0.5))
    state = ckpt.load(tmp_path, other, make_optimizer(other, OptimConfig()))
    assert state.next_epoch == 3 and state.best_metric == 0.5
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)


def test_lr_steps_down_at_decay_epochs():
    cfg = OptimConfig(lr=0.01, lr_decay_epochs=(2, 4), lr_decay_factor=0.1)
    assert [round(lr_at(e, cfg), 6) for e in range(5)] == [0.01, 0.01, 0.001, 0.001, 0.0001]
