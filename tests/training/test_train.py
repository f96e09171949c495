"""The training loop: mixed batches, poly lr, exact resumption from a periodic checkpoint."""

import pytest
import torch
from helpers.models import Toy

from dmt.errors import DMTError
from dmt.models import build_model
from dmt.training.loop import SampleStream, TrainSpec, poly_lr, train


def _spec(**kw):
    base = dict(epochs=2, lr=0.01, batch_size=4, crop_size=(16, 16), seed=3, checkpoint_every=2,
                log_every=1)
    base.update(kw)
    return TrainSpec(**base)


def test_sample_stream_is_a_pure_function_of_seed_and_step():
    s = SampleStream(5, 3, seed=1)
    first = [s.batch_at(k) for k in range(4)]
    again = SampleStream(5, 3, seed=1)
    assert [again.batch_at(k) for k in (3, 0, 2, 1)] == [first[3], first[0], first[2], first[1]]
    # Each epoch of 5 positions visits every index once.
    flat = [i for b in first for i, _ in b]
    assert sorted(flat[:5]) == [0, 1, 2, 3, 4] and sorted(flat[5:10]) == [0, 1, 2, 3, 4]


def test_poly_schedule():
    assert poly_lr(0.1, 0, 100, 0.9) == 0.1
    assert poly_lr(0.1, 50, 100, 0.9) == pytest.approx(0.1 * 0.5 ** 0.9)


def test_mixed_batches_count_epochs_on_the_pseudo_set(tmp_path):
    model = build_model("small_deeplab", 2, seed=0)
    summary = train(model, _spec(pseudo_per_batch=3), Toy(2), tmp_path / "m.pt",
                    pseudo=Toy(9, pseudo=True), meta={"model": "small_deeplab", "num_classes": 2})
    assert summary["steps_per_epoch"] == 3 and summary["steps"] == 6  # ceil(9 / 3) * 2 epochs
    assert summary["labeled_per_batch"] == 1 and summary["pseudo_per_batch"] == 3
    saved = torch.load(tmp_path / "m.pt", weights_only=True)
    assert saved["meta"]["num_classes"] == 2


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    ref_model = build_model("small_deeplab", 2, seed=0)
    train(ref_model, _spec(), Toy(10), tmp_path / "ref.pt", checkpoint_path=tmp_path / "ref.ckpt")

    model = build_model("small_deeplab", 2, seed=0)
    out, ckpt = tmp_path / "m.pt", tmp_path / "m.ckpt"
    with pytest.raises(KeyboardInterrupt):
        # 4 samples a step: the 19th sample is drawn in step 5, after the checkpoint of step 4.
        train(model, _spec(), Toy(10, fail_at=19), out, checkpoint_path=ckpt)
    assert not out.exists() and ckpt.exists()
    assert torch.load(ckpt, weights_only=True)["step"] == 4

    model = build_model("small_deeplab", 2, seed=0)
    summary = train(model, _spec(), Toy(10), out, checkpoint_path=ckpt)
    assert summary["resumed_at"] == 4 and not ckpt.exists()
    ref = torch.load(tmp_path / "ref.pt", weights_only=True)["model"]
    got = torch.load(out, weights_only=True)["model"]
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=0, atol=0)


def test_checkpoint_of_another_configuration_is_not_resumed(tmp_path):
    ckpt = tmp_path / "m.ckpt"
    with pytest.raises(KeyboardInterrupt):
        train(build_model("small_deeplab", 2, 0), _spec(), Toy(10, fail_at=19), tmp_path / "m.pt",
              checkpoint_path=ckpt)
    summary = train(build_model("small_deeplab", 2, 0), _spec(lr=0.02), Toy(10), tmp_path / "m.pt",
                    checkpoint_path=ckpt)
    assert summary["resumed_at"] == 0


def test_nan_loss_is_a_clear_error(tmp_path):
    model = build_model("small_deeplab", 2, seed=0)
    with torch.no_grad():
        model.aspp[0].bias.fill_(float("nan"))
    with pytest.raises(DMTError, match="loss became nan between steps 0 and 1"):
        train(model, _spec(), Toy(4), tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_ema_warms_up_then_decays_at_its_rate():
    from dmt.training.loop import ema_with_warmup

    update = ema_with_warmup(0.9)
    avg, new = torch.tensor([0.0]), torch.tensor([1.0])
    # after 1 update: d = min(0.9, 2 / 11); after 100: d = 0.9
    assert update(avg, new, torch.tensor(1)).item() == pytest.approx(1 - 2 / 11)
    assert update(avg, new, torch.tensor(100)).item() == pytest.approx(0.1)


def test_mixup_ramp_ema_cosine_run_and_resume_exactly(tmp_path):
    """The classification options through the shared loop: killed at a checkpoint and resumed,
    the result equals an uninterrupted run."""
    spec = TrainSpec(epochs=2, lr=0.05, batch_size=4, crop_size=(16, 16), seed=3, pseudo_per_batch=3,
                     gamma1=4, gamma2=4, schedule="cosine", mixup_alpha=0.75, gamma_ramp=True,
                     ema_decay=0.9, checkpoint_every=1)
    full = build_model("small_deeplab", 2, seed=0)
    train(full, spec, Toy(4), tmp_path / "full.pt", pseudo=Toy(6, pseudo=True))

    class Stop(Exception):
        pass

    def stop_after_first_epoch(epoch, model):
        if epoch == 1:
            raise Stop
        return {}

    part = build_model("small_deeplab", 2, seed=0)
    ckpt = tmp_path / "part.pt.ckpt"
    with pytest.raises(Stop):
        train(part, spec, Toy(4), tmp_path / "part.pt", pseudo=Toy(6, pseudo=True), checkpoint_path=ckpt,
              on_epoch_end=stop_after_first_epoch)
    assert ckpt.exists()
    resumed = build_model("small_deeplab", 2, seed=0)
    summary = train(resumed, spec, Toy(4), tmp_path / "part.pt", pseudo=Toy(6, pseudo=True),
                    checkpoint_path=ckpt)
    assert summary["resumed_at"] == 1
    a = torch.load(tmp_path / "full.pt", weights_only=True)
    b = torch.load(tmp_path / "part.pt", weights_only=True)
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key])
    # The dynamic-weight histogram survives the checkpoint: every pseudo pixel of the 4 steps
    # (3 pseudo images of 16x16 a step) counted once, as in the uninterrupted run.
    hist = a["summary"]["dynamic_weights"]
    assert hist == b["summary"]["dynamic_weights"]
    assert hist["zero"] + sum(hist["counts"]) == 4 * 3 * 16 * 16


def test_labeled_only_training_records_no_dynamic_weights(tmp_path):
    train(build_model("small_deeplab", 2, seed=0), _spec(epochs=1), Toy(4), tmp_path / "m.pt")
    assert "dynamic_weights" not in torch.load(tmp_path / "m.pt", weights_only=True)["summary"]


def test_every_spec_field_belongs_to_one_group():
    from dataclasses import fields

    from dmt.training.spec import GROUPS

    grouped = [name for group in GROUPS.values() for name in group]
    assert sorted(grouped) == sorted(f.name for f in fields(TrainSpec))


def test_the_step_strategy_is_chosen_once_from_the_spec():
    from dmt.training.steps import STEPS, choose_step

    assert choose_step(_spec(), has_pseudo=False) == "supervised"
    assert choose_step(_spec(pseudo_per_batch=3, gamma1=1), has_pseudo=True) == "dynamic"
    assert choose_step(_spec(pseudo_per_batch=2, online_threshold=0.7), has_pseudo=True) == "online"
    assert choose_step(_spec(pseudo_per_batch=3, mixup_alpha=0.75), has_pseudo=True) == "mixup_dynamic"
    assert set(STEPS) == {"supervised", "dynamic", "online", "mixup_dynamic"}
