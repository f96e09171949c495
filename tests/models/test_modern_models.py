"""The modern protocol's models (DeepLabV3+ ResNet-101, torchvision DeepLabV3, smp heads over timm
encoders): shapes, strides, the head / backbone split, and pretrained weights from local files in
torchvision's and timm's own key layouts. Nothing is downloaded."""

import pytest
import timm
import torch
import torch.nn.functional as F
from helpers.files import make_imagenet_state_dict
from torchvision.models.segmentation import deeplabv3_resnet101

from dmt.errors import DMTError
from dmt.models import build_model, input_normalization, model_meta, rebuild
from dmt.models.catalog import check_options
from dmt.training.optim import _param_groups

# Tiny timm encoders, one per kind of smp feature extractor (CNN stages, ConvNeXt stages, ViT).
TINY = {"smp_deeplabv3plus": "tu-resnet18", "smp_upernet": "tu-convnext_atto",
        "smp_segformer": "tu-convnext_atto", "smp_dpt": "tu-vit_tiny_patch16_224"}


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "resnet101-63fe2227.pth"
    return path, make_imagenet_state_dict(path, seed=3)


@pytest.fixture(scope="module")
def v3plus():
    return build_model("deeplabv3plus", 21, seed=0).eval()


def test_deeplabv3plus_output_stride_16_aspp_6_12_18_and_the_48_channel_fuse(v3plus):
    model = v3plus
    x = torch.randint(0, 256, (2, 3, 65, 97), dtype=torch.uint8)
    with torch.no_grad():
        low, high = model.backbone(model.normalize(x))
        out = model(x)
        aspp = F.interpolate(model.aspp(high), size=low.shape[-2:], mode="bilinear", align_corners=True)
        logits = model.classifier(model.fuse(torch.cat([model.reduce(low), aspp], 1)))
    assert low.shape[1:] == (256, 17, 25)  # layer1: stride 4
    assert high.shape[1:] == (2048, 5, 7)  # layer4 dilated, not strided: output stride 16
    assert model.backbone.layer4[0].conv2.stride == (1, 1) and model.backbone.layer3[0].conv2.stride == (2, 2)
    assert [b[0].dilation[0] for b in model.aspp.branches[1:]] == [6, 12, 18]
    assert model.aspp.branches[0][0].kernel_size == (1, 1) and model.aspp.project[0].in_channels == 5 * 256
    assert model.reduce[0].out_channels == 48 and model.fuse[0][0].in_channels == 304
    assert out.shape == (2, 21, 65, 97)
    # The classifier's map upsampled with aligned corners is the output; without, it would not be.
    assert torch.allclose(out, F.interpolate(logits, size=(65, 97), mode="bilinear", align_corners=True))
    assert not torch.allclose(out, F.interpolate(logits, size=(65, 97), mode="bilinear", align_corners=False))


def test_torchvision_deeplabv3_shape_and_output_stride_8():
    model = build_model("deeplabv3_resnet101", 19, seed=0).eval()
    x = torch.randint(0, 256, (1, 3, 41, 57), dtype=torch.uint8)
    with torch.no_grad():
        features = model.net.backbone(model.normalize(x))["out"]
        out = model(x)
    assert features.shape[1:] == (2048, 6, 8) and out.shape == (1, 19, 41, 57)


@pytest.mark.parametrize("name,stride", [("smp_deeplabv3plus", 16), ("smp_upernet", 32), ("smp_segformer", 32),
                                         ("smp_dpt", 16)])
def test_smp_models_shape_stride_and_any_input_size(name, stride):
    model = build_model(name, 5, seed=0, options={"encoder": TINY[name]}).eval()
    x = torch.randint(0, 256, (2, 3, 33, 47), dtype=torch.uint8)  # no multiple of any stride
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 5, 33, 47) and torch.isfinite(out).all()
    assert model.output_stride == stride


def test_a_dinov2_encoder_builds_for_dpt_at_16_pixel_patches():
    model = build_model("smp_dpt", 3, seed=0, options={"encoder": "tu-vit_small_patch14_dinov2"}).eval()
    assert model.net.encoder.model.patch_embed.proj.kernel_size == (16, 16) and model.output_stride == 16
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 40, 72)).shape == (1, 3, 40, 72)


@pytest.mark.parametrize("name,options", [("deeplabv3plus", {}), ("deeplabv3_resnet101", {}),
                                          *((name, {"encoder": encoder}) for name, encoder in TINY.items())])
def test_the_head_lr_group_holds_every_weight_outside_the_backbone(name, options):
    model = build_model(name, 4, seed=0, options=options)
    backbone, head = _param_groups(model, head_lr_mult=10.0)
    assert head["lr_mult"] == 10.0 and backbone["lr_mult"] == 1.0
    names = {id(p): n for n, p in model.named_parameters()}
    assert len(backbone["params"]) + len(head["params"]) == len(names)
    inside = ("backbone.", "net.backbone.", "net.encoder.")
    assert backbone["params"] and all(names[id(p)].startswith(inside) for p in backbone["params"])
    assert head["params"] and not any(names[id(p)].startswith(inside) for p in head["params"])


def test_deeplabv3plus_imagenet_weights_from_a_torchvision_state_dict(imagenet):
    path, state = imagenet
    model = build_model("deeplabv3plus", 21, seed=0, weights=f"imagenet:{path}")
    own = model.backbone.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items() if not k.startswith("fc."))
    assert input_normalization(model)["channels"] == "rgb"
    meta = model_meta("deeplabv3plus", 21, f"imagenet:{path}")
    assert type(rebuild(meta)).__name__ == "DeepLabV3Plus" and meta["init"] == "imagenet"


@pytest.mark.parametrize("damage", ["missing", "shape"])
def test_a_missing_or_mismatched_torchvision_key_is_one_line(tmp_path, imagenet, damage):
    state = dict(imagenet[1])
    if damage == "missing":
        del state["layer3.5.conv2.weight"]
    else:
        state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 3, 3)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(DMTError) as e:
        build_model("deeplabv3plus", 21, seed=0, weights=f"imagenet:{path}")
    message = str(e.value)
    assert "\n" not in message and str(path) in message and "imagenet_checkpoint" in message
    assert ("layer3.5.conv2.weight" if damage == "missing" else "layer1.0.conv1.weight (64, 64, 3, 3)") in message


def test_a_missing_weights_file_names_its_config_key(tmp_path):
    missing = r"imagenet weights .*nowhere.pth \(config key imagenet_checkpoint\) do not exist"
    with pytest.raises(DMTError, match=missing):
        build_model("deeplabv3plus", 21, seed=0, weights=f"imagenet:{tmp_path / 'nowhere.pth'}")


@pytest.mark.slow  # two ResNet-101 models and a 240 MB file: about 13 s here
def test_torchvision_deeplabv3_loads_its_own_coco_voc_file(tmp_path):
    torch.manual_seed(5)
    state = deeplabv3_resnet101(weights=None, weights_backbone=None, num_classes=21, aux_loss=True).state_dict()
    path = tmp_path / "deeplabv3_resnet101_coco-586e9e4e.pth"
    torch.save(state, path)
    voc = build_model("deeplabv3_resnet101", 21, seed=0, weights=f"torchvision_coco:{path}").net.state_dict()
    assert all(torch.equal(voc[k], v) for k, v in state.items() if not k.startswith("aux_classifier."))
    city = build_model("deeplabv3_resnet101", 19, seed=0, weights=f"torchvision_coco:{path}").net.state_dict()
    assert torch.equal(city["classifier.0.convs.0.0.weight"], state["classifier.0.convs.0.0.weight"])
    assert city["classifier.4.weight"].shape[0] == 19  # the 19-class layer keeps its own init
    del state["classifier.0.project.0.weight"]
    torch.save(state, path)
    with pytest.raises(DMTError, match=r"deeplabv3_coco_checkpoint.*classifier.0.project.0.weight"):
        build_model("deeplabv3_resnet101", 21, seed=0, weights=f"torchvision_coco:{path}")


@pytest.mark.parametrize("name", ["smp_upernet", "smp_deeplabv3plus", "smp_dpt"])
def test_smp_encoder_weights_from_a_timm_state_dict(tmp_path, name):
    """A file in timm's own layout (stages.0 ..., its classifier included) fills smp's encoder
    (features_only: stages_0 ...); a file lacking one encoder tensor is refused in one line."""
    encoder = TINY[name]
    torch.manual_seed(7)
    state = timm.create_model(encoder.removeprefix("tu-"), pretrained=False).state_dict()
    path = tmp_path / "encoder.pth"
    torch.save(state, path)
    model = build_model(name, 3, seed=0, weights=f"timm:{path}", options={"encoder": encoder})
    own = model.net.encoder.model.state_dict()
    loaded = {k: v for k, v in state.items() if k in own or k.replace(".", "_", 1) in own}
    assert len(loaded) == len(own)
    assert all(torch.equal(own.get(k, own.get(k.replace(".", "_", 1))), v) for k, v in loaded.items())
    victim = next(k for k in state if k.endswith("weight") and "norm" not in k)
    del state[victim]
    torch.save(state, path)
    with pytest.raises(DMTError) as e:
        build_model(name, 3, seed=0, weights=f"timm:{path}", options={"encoder": encoder})
    assert "\n" not in str(e.value) and "timm_checkpoint" in str(e.value) and "1 tensors missing" in str(e.value)
    # A tensor of another shape (a file of another encoder size) is refused the same way (ViT's patch
    # embedding fails already in timm's own resampling of it, which the message then quotes).
    state[victim] = torch.zeros(3, 3)
    torch.save(state, path)
    with pytest.raises(DMTError) as e:
        build_model(name, 3, seed=0, weights=f"timm:{path}", options={"encoder": encoder})
    assert "\n" not in str(e.value) and "timm_checkpoint" in str(e.value) and "shape" in str(e.value)


def test_dinov2_weights_in_timm_layout_are_resampled_to_16_pixel_patches(tmp_path):
    torch.manual_seed(3)
    source = timm.create_model("vit_small_patch14_dinov2", pretrained=False)
    torch.save(source.state_dict(), tmp_path / "dinov2_s.pth")
    model = build_model("smp_dpt", 3, seed=0, weights=f"timm:{tmp_path / 'dinov2_s.pth'}",
                        options={"encoder": "tu-vit_small_patch14_dinov2"})
    own = model.net.encoder.model.state_dict()
    assert torch.equal(own["blocks.3.attn.qkv.weight"], source.state_dict()["blocks.3.attn.qkv.weight"])
    assert own["patch_embed.proj.weight"].shape[-2:] == (16, 16)


def test_smp_models_take_timm_encoders_of_their_kind_and_timm_weights():
    with pytest.raises(ValueError, match="tu-"):
        check_options("smp_upernet", {"encoder": "resnet18"})
    with pytest.raises(ValueError, match="ViT"):
        check_options("smp_dpt", {"encoder": "tu-convnext_atto"})
    with pytest.raises(ValueError, match="takes smp_dpt"):
        check_options("smp_upernet", {"encoder": "tu-vit_tiny_patch16_224"})
    with pytest.raises(ValueError, match="has no model 'no_such_net'"):
        build_model("smp_upernet", 3, seed=0, options={"encoder": "tu-no_such_net"})
    with pytest.raises(ValueError, match="use 'scratch' or 'timm:"):
        build_model("smp_upernet", 3, seed=0, weights="imagenet:/x.pth", options={"encoder": "tu-resnet18"})
