"""The modern protocol's data: UniMatch's committed labeled lists (sizes, where they draw from,
unlabeled = train minus labeled) and Cityscapes prepared at its full resolution."""

import re

import numpy as np
import pytest
from helpers.files import make_mini_cityscapes, mini_cityscapes_ids
from PIL import Image

from dmt.data.registry import prepare_function
from dmt.data.splits import make_split, read_published

VOC_LISTS = {"92": 92, "183": 183, "366": 366, "732": 732, "1464": 1464, "1_16": 662, "1_8": 1323,
             "1_4": 2646, "u2pl_1_16": 662, "u2pl_1_8": 1323, "u2pl_1_4": 2646}
CITY_LISTS = {"1_30": 100, "1_16": 186, "1_8": 372, "1_4": 744, "1_2": 1488}


def _lists(dataset: str, names) -> dict[str, list[str]]:
    return {name: read_published(f"unimatch/{dataset}/{name}_labeled.txt") for name in names}


def test_unimatch_split_sizes_from_the_committed_lists():
    voc, city = _lists("pascal", VOC_LISTS), _lists("cityscapes", CITY_LISTS)
    assert {n: len(ids) for n, ids in voc.items()} == VOC_LISTS
    assert {n: len(ids) for n, ids in city.items()} == CITY_LISTS
    assert all(len(set(ids)) == len(ids) for ids in [*voc.values(), *city.values()])
    # Classic lists draw from the 1,464 fine images (the 1464 list is all of them), blended ones
    # from all of train_aug: they hold SBD-only ids; U2PL's blended draw is another one.
    fine = set(voc["1464"])
    assert all(set(voc[n]) <= fine for n in ("92", "183", "366", "732"))
    assert not set(voc["1_4"]) <= fine and not set(voc["u2pl_1_4"]) <= fine
    assert set(voc["1_8"]) != set(voc["u2pl_1_8"])
    assert all(re.fullmatch(r"20\d\d_\d{6}", i) for ids in voc.values() for i in ids)
    # Cityscapes ids lose their city folder (the prepared data's id form).
    assert all(re.fullmatch(r"[a-z]+_\d{6}_\d{6}", i) for ids in city.values() for i in ids)


@pytest.mark.parametrize("dataset,lists,total", [("pascal", VOC_LISTS, 10582), ("cityscapes", CITY_LISTS, 2975)])
def test_unlabeled_is_train_minus_labeled(dataset, lists, total):
    """A train list of the data set's size holding every published id: each split labels exactly
    its list and leaves all the rest unlabeled."""
    published = _lists(dataset, lists)
    known = sorted({i for ids in published.values() for i in ids})
    train = known + [f"other_{k}" for k in range(total - len(known))]
    for name, ids in published.items():
        split = make_split(train, ["v1", "v2"], len(ids), 1, seed=0, labeled_ids=ids, valtiny_ids=["v1"])
        assert set(split.labeled) == set(ids) and len(split.unlabeled) == total - lists[name]
        assert set(split.unlabeled) == set(train) - set(ids)


def test_cityscapes_full_keeps_every_pixel(tmp_path):
    raw = make_mini_cityscapes(tmp_path / "cityscapes", size=(16, 32))
    full = prepare_function("cityscapes_full")(cityscapes_root=raw, out_root=tmp_path / "full")
    half = prepare_function("cityscapes")(cityscapes_root=raw, out_root=tmp_path / "half")
    assert full["sizes"] == [[16, 32]] and half["sizes"] == [[8, 16]] and full["params"]["scale"] == 1.0
    image_id = mini_cityscapes_ids("train")[0]
    city = image_id.split("_")[0]
    source = raw / "leftImg8bit" / "train" / city / f"{image_id}_leftImg8bit.png"
    prepared = tmp_path / "full" / "JPEGImages" / f"{image_id}.png"
    assert np.array_equal(np.asarray(Image.open(prepared)), np.asarray(Image.open(source).convert("RGB")))
    label = np.asarray(Image.open(tmp_path / "full" / "SegmentationClass" / f"{image_id}.png"))
    ids = np.asarray(Image.open(raw / "gtFine" / "train" / city / f"{image_id}_gtFine_labelIds.png"))
    assert label.shape == ids.shape and (label[ids == 7] == 0).all() and (label[ids == 0] == 255).all()
