"""WideResNet (MixMatch / DMT CIFAR-10 model): size, shapes, raw 0-255 input, gradients, inits."""

import pytest
import torch

from dmt.models.wide_resnet import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    WideResNet,
    wrn_10_2,
    wrn_28_2,
)


def _count(model):
    return sum(p.numel() for p in model.parameters())


def test_wrn_28_2_has_the_standard_parameter_count():
    # The MixMatch WRN-28-2 with 10 classes: 1,467,610 trainable parameters.
    assert _count(wrn_28_2(10)) == 1_467_610
    model = wrn_28_2(10)
    assert len(model.groups) == 3 and all(len(g) == 4 for g in model.groups)
    assert model.fc.in_features == 128
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.momentum == 0.001 for m in bns)
    assert torch.count_nonzero(model.fc.bias) == 0


def test_wrn_10_2_is_one_block_per_group():
    model = wrn_10_2(10)
    assert all(len(g) == 1 for g in model.groups)
    assert _count(model) == 303_706


def test_bad_depth_rejected():
    with pytest.raises(ValueError, match="6n \\+ 4"):
        WideResNet(10, depth=12)


@pytest.mark.parametrize("size", [32, 16, 8])
def test_output_shape(size):
    model = wrn_10_2(7).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, size, size) * 255)
    assert out.shape == (2, 7)


def test_wrn_28_2_output_shape_32():
    model = wrn_28_2(10).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 32, 32) * 255).shape == (1, 10)


def test_uint8_input_matches_float_input():
    model = wrn_10_2(10).eval()
    x = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x.float()))


def test_normalization_by_hand():
    model = wrn_10_2(10)
    pixel = torch.tensor([255, 0, 128], dtype=torch.uint8).view(1, 3, 1, 1)
    got = model.normalize(pixel).flatten().tolist()
    want = [(v / 255 - m) / s for v, m, s in zip((255, 0, 128), CIFAR10_MEAN, CIFAR10_STD, strict=False)]
    assert got == pytest.approx(want, rel=1e-5)
    custom = WideResNet(10, depth=10, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    assert custom.normalize(pixel).flatten().tolist() == pytest.approx([1.0, -1.0, 128 / 127.5 - 1])


def test_backward_reaches_every_parameter():
    model = wrn_10_2(5).train()
    x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert torch.isfinite(loss)
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


def test_dropout_only_in_training():
    torch.manual_seed(0)
    model = WideResNet(3, depth=10, dropout=0.5)
    plain = WideResNet(3, depth=10, dropout=0.0)
    plain.load_state_dict(model.state_dict())  # the same weights, without dropout
    x = torch.rand(2, 3, 16, 16) * 255
    with torch.no_grad():
        # Evaluation: no dropout at all, not merely the same mask twice.
        torch.testing.assert_close(model.eval()(x), plain.eval()(x))
        # Training: batch statistics make a pass deterministic, so only dropout tells passes apart.
        model.train(), plain.train()
        torch.testing.assert_close(plain(x), plain(x))
        first, second, without = model(x), model(x), plain(x)
    assert not torch.allclose(first, second), "no fresh dropout mask at each training pass"
    assert not torch.allclose(first, without), "dropout inactive in training"


def test_seeds_give_different_inits_and_are_reproducible():
    def init(seed):
        torch.manual_seed(seed)
        return wrn_10_2(10).state_dict()

    a, b, a2 = init(1), init(2), init(1)
    conv = "stem.weight"
    assert torch.equal(a[conv], a2[conv]) and not torch.equal(a[conv], b[conv])
    assert torch.equal(a["fc.weight"], a2["fc.weight"]) and not torch.equal(a["fc.weight"], b["fc.weight"])
