"""Model contract: raw 0-255 RGB in, logits at the input size out; inits from local files."""

import pytest
import torch
from helpers.files import make_caffe_coco_checkpoint
from helpers.models import Toy
from torchvision.models import resnet101

from dmt.cli import main
from dmt.errors import DMTError
from dmt.models import build_model, model_meta, rebuild
from dmt.models.deeplab_v2 import ASPP_RATES, Normalize, convert_coco
from dmt.training.loop import TrainSpec, train


def test_seeds_give_different_inits_and_are_reproducible():
    a, b, a2 = (build_model("small_deeplab", 3, seed=s) for s in (1, 2, 1))
    wa, wb, wa2 = (next(m.parameters()) for m in (a, b, a2))
    assert torch.equal(wa, wa2) and not torch.equal(wa, wb)


def test_normalizations_by_hand():
    pixel = torch.tensor([255.0, 0.0, 128.0]).view(1, 3, 1, 1)
    imagenet = Normalize("imagenet")(pixel).flatten().tolist()
    assert imagenet == pytest.approx([(1 - 0.485) / 0.229, -0.456 / 0.224, (128 / 255 - 0.406) / 0.225])
    caffe = Normalize("caffe")(pixel).flatten().tolist()  # BGR order, 0-255, Caffe mean, std 1
    assert caffe == pytest.approx([128 - 104.008, 0 - 116.669, 255 - 122.675])


def test_deeplab_v2_shape_and_output_stride():
    model = build_model("deeplab_v2", 21, seed=0).eval()
    assert [c.dilation[0] for c in model.aspp] == list(ASPP_RATES)
    x = torch.randint(0, 256, (1, 3, 41, 57), dtype=torch.uint8)
    with torch.no_grad():
        features = model.backbone(model.normalize(x))
        out = model(x)
    assert features.shape[1:] == (2048, 6, 8)  # ceil(41 / 8), ceil(57 / 8): output stride 8
    assert out.shape == (1, 21, 41, 57)


def test_imagenet_backbone_from_a_local_state_dict(tmp_path):
    torch.manual_seed(5)
    reference = resnet101()
    torch.save(reference.state_dict(), tmp_path / "r101.pth")
    model = build_model("deeplab_v2", 3, seed=0, weights=f"imagenet:{tmp_path / 'r101.pth'}")
    torch.testing.assert_close(model.backbone[7][2].conv3.weight, reference.layer4[2].conv3.weight)
    torch.save({"fc.weight": torch.zeros(2)}, tmp_path / "bad.pth")
    with pytest.raises(DMTError, match="not a resnet101 state dict"):
        build_model("deeplab_v2", 3, seed=0, weights=f"imagenet:{tmp_path / 'bad.pth'}")
    with pytest.raises(DMTError, match="do not exist"):
        build_model("deeplab_v2", 3, seed=0, weights=f"imagenet:{tmp_path / 'none.pth'}")
    with pytest.raises(ValueError, match="use 'scratch'"):
        build_model("small_deeplab", 3, seed=0, weights=f"imagenet:{tmp_path / 'r101.pth'}")


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coco")
    original = make_caffe_coco_checkpoint(folder / "resnet101COCO.pth")
    assert main(["convert-coco", "--checkpoint", str(folder / "resnet101COCO.pth"),
                 "--out", str(folder / "coco.pt")]) == 0
    return original, folder


def test_coco_init_maps_every_caffe_weight_and_follows_caffe_conventions(coco):
    original, folder = coco
    voc = build_model("deeplab_v2", 21, seed=0, weights=f"coco:{folder / 'coco.pt'}")
    torch.testing.assert_close(voc.backbone[0].weight, original["Scale.conv1.weight"])
    torch.testing.assert_close(voc.backbone[6][22].bn3.running_var, original["Scale.layer3.22.bn3.running_var"])
    torch.testing.assert_close(voc.backbone[5][0].downsample[0].weight,
                               original["Scale.layer2.0.downsample.0.weight"])
    for k in range(4):  # 21-class COCO head kept for VOC
        torch.testing.assert_close(voc.aspp[k].bias, original[f"Scale.layer5.conv2d_list.{k}.bias"])
    # Caffe ResNet strides in the first 1x1 of layer2; torchvision (imagenet) in the 3x3.
    assert voc.backbone[5][0].conv1.stride == (2, 2) and voc.backbone[5][0].conv2.stride == (1, 1)
    imagenet = build_model("deeplab_v2", 21, seed=0)
    assert imagenet.backbone[5][0].conv1.stride == (1, 1) and imagenet.backbone[5][0].conv2.stride == (2, 2)
    assert voc.normalize.bgr and not imagenet.normalize.bgr
    # Cityscapes: 19 classes, backbone from COCO, head drawn from the seed.
    city = build_model("deeplab_v2", 19, seed=0, weights=f"coco:{folder / 'coco.pt'}")
    torch.testing.assert_close(city.backbone[0].weight, original["Scale.conv1.weight"])
    assert city.aspp[0].weight.shape[0] == 19


def test_a_saved_coco_model_rebuilds_with_its_conventions(coco):
    _, folder = coco
    meta = model_meta("deeplab_v2", 19, f"coco:{folder / 'coco.pt'}")
    assert meta == {"model": "deeplab_v2", "num_classes": 19, "init": "coco"}
    model = rebuild(meta)
    assert model.normalize.bgr and model.backbone[5][0].conv1.stride == (2, 2)


def test_convert_coco_rejects_other_checkpoints(coco, tmp_path):
    original, folder = coco
    partial = {k: v for k, v in original.items() if "layer4.2" not in k}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(DMTError, match=r"weights missing \(e.g. \['backbone.7.2"):
        convert_coco(tmp_path / "partial.pth", tmp_path / "out.pt")
    with pytest.raises(DMTError, match="not a converted COCO checkpoint"):
        build_model("deeplab_v2", 21, seed=0, weights=f"coco:{folder / 'resnet101COCO.pth'}")
    with pytest.raises(DMTError, match="do not exist"):
        convert_coco(tmp_path / "none.pth", tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


def test_deeplab_v2_trains_a_step_on_cpu(tmp_path):
    model = build_model("deeplab_v2", 2, seed=0)
    spec = TrainSpec(epochs=1, lr=1e-3, batch_size=2, crop_size=(16, 16), seed=0, head_lr_mult=10)
    summary = train(model, spec, Toy(2), tmp_path / "m.pt")
    assert summary["steps"] == 1 and (tmp_path / "m.pt").is_file()


def test_aspp_forms_on_a_hand_made_feature_map():
    """`paper` sums the four rate branches; `authors` (the authors' code) only rates 6 and 12."""
    from torch import nn

    from dmt.models.deeplab_v2 import ASPP_FORMS, aspp_logits

    # One-channel branches whose 3x3 kernels are a single centre tap of weight k + 1, bias 10^k:
    # on a 1x1 feature map of value 2, branch k gives 2 (k + 1) + 10^k.
    branches = nn.ModuleList(nn.Conv2d(1, 1, 3, padding=r, dilation=r) for r in (6, 12, 18, 24))
    with torch.no_grad():
        for k, conv in enumerate(branches):
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1] = k + 1
            conv.bias.fill_(10.0 ** k)
    x = torch.full((1, 1, 1, 1), 2.0)
    assert aspp_logits(branches, x, ASPP_FORMS["paper"]).item() == (2 + 1) + (4 + 10) + (6 + 100) + (8 + 1000)
    assert aspp_logits(branches, x, ASPP_FORMS["authors"]).item() == (2 + 1) + (4 + 10)


def test_deeplab_v2_forms_share_weights_and_upsample_with_aligned_corners():
    paper = build_model("deeplab_v2", 3, seed=0, options={"aspp": "paper"})
    authors = build_model("deeplab_v2", 3, seed=0)
    assert authors.aspp_form == "authors" and paper.aspp_used == 4 and authors.aspp_used == 2
    authors.load_state_dict(paper.state_dict())  # same parameters: checkpoints load into either
    images = torch.randint(0, 256, (1, 3, 33, 33), dtype=torch.uint8)
    paper.eval(), authors.eval()
    with torch.no_grad():
        features = paper.backbone(paper.normalize(images))
        two = authors.aspp[0](features) + authors.aspp[1](features)
        # align_corners=True: the corner pixels of the output are the corner logits exactly
        out = authors(images)
        assert torch.allclose(out[..., 0, 0], two[..., 0, 0], atol=1e-5)
        assert torch.allclose(out[..., -1, -1], two[..., -1, -1], atol=1e-5)
        assert not torch.allclose(paper(images), out)
    meta = model_meta("deeplab_v2", 3, "scratch", {"aspp": "paper"})
    assert rebuild(meta).aspp_used == 4 and rebuild(model_meta("deeplab_v2", 3, "scratch")).aspp_used == 2
    with pytest.raises(ValueError, match="takes no option aspp='four'"):
        build_model("deeplab_v2", 3, seed=0, options={"aspp": "four"})
    with pytest.raises(ValueError, match="takes no option"):
        build_model("small_deeplab", 3, seed=0, options={"aspp": "paper"})
