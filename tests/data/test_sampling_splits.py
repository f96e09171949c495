import pytest

from dmt.data.splits import labeled_count, make_split
from dmt.sampling import difference_maximized


def test_difference_maximized_eq11():
    ids = [f"i{k}" for k in range(10)]
    a, b = difference_maximized(ids, 0.8, seed=3)
    assert len(a) == len(b) == 8
    # A = R[0:8], B = R[2:10]: together they are R, and they share R[2:8].
    r = a[:2] + b
    assert sorted(r) == sorted(ids)
    assert a[2:] == b[:6]
    assert len(set(a) & set(b)) == 6
    assert difference_maximized(ids, 0.8, seed=3) == (a, b)
    assert difference_maximized(ids, 0.8, seed=4) != (a, b)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 0.3])
def test_difference_maximized_rejects_alpha_outside_half_one(alpha):
    with pytest.raises(ValueError, match="0.5 < alpha < 1"):
        difference_maximized(["a", "b"], alpha, 0)


@pytest.mark.parametrize("spec,count", [("1/50", 211), ("1/20", 530), ("1/8", 1322), (100, 100), (0.05, 530)])
def test_labeled_count_follows_the_authors_rule(spec, count):
    # floor(n / ratio), plus one when that is 1 mod 8: the sizes of the published VOC lists
    assert labeled_count(10582, spec) == count


def test_labeled_count_on_other_sizes():
    assert labeled_count(2975, "1/8") == 371  # Cityscapes 1/8 (the published lists)
    assert labeled_count(1000, "1/20") == 50
    assert labeled_count(72, "1/8") == 10  # 9 is 1 mod 8


@pytest.mark.parametrize("bad", ["1/0", "abc", "3/2", 0, 20000, True])
def test_labeled_count_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        labeled_count(10582, bad)


def test_make_split_is_seeded_and_partitions():
    train = [f"t{k:03d}" for k in range(200)]
    val = [f"v{k:03d}" for k in range(50)]
    s = make_split(train, val, "1/20", valtiny=5, seed=1)
    assert len(s.labeled) == 10 and len(s.unlabeled) == 190 and len(s.valtiny) == 5
    assert set(s.labeled) | set(s.unlabeled) == set(train)
    assert not set(s.labeled) & set(s.unlabeled)
    assert set(s.valtiny) <= set(val)
    assert s.labeled == sorted(s.labeled)  # data-set order is kept
    assert make_split(train, val, "1/20", 5, seed=1) == s
    assert make_split(train, val, "1/20", 5, seed=2).labeled != s.labeled


def test_classification_valtiny_comes_from_train_and_leaves_the_other_parts():
    train = [f"t{k:03d}" for k in range(100)]
    split = make_split(train, None, 10, 20, seed=4)
    assert len(split.valtiny) == 20 and len(split.labeled) == 10 and len(split.unlabeled) == 70
    assert set(split.valtiny) | set(split.labeled) | set(split.unlabeled) == set(train)
    assert not set(split.valtiny) & (set(split.labeled) | set(split.unlabeled))
    assert make_split(train, None, 10, 20, seed=4) == split
    assert make_split(train, None, 10, 20, seed=5).valtiny != split.valtiny


def test_fixed_labeled_list_must_lie_in_train_and_match_the_count():
    train = ["a", "b", "c", "d"]
    split = make_split(train, ["v1", "v2"], 2, 1, seed=0, labeled_ids=["c", "a"])
    assert split.labeled == ["a", "c"] and split.unlabeled == ["b", "d"]
    with pytest.raises(ValueError, match="1 labeled ids are not in the train list"):
        make_split(train, ["v1"], 2, 1, seed=0, labeled_ids=["a", "zz"])
    with pytest.raises(ValueError, match="has 2 ids but the split asks for 3"):
        make_split(train, ["v1"], 3, 1, seed=0, labeled_ids=["a", "b"])


@pytest.mark.parametrize("name, count", [("voc/20_labeled_0.txt", 530), ("voc/20_labeled_2.txt", 530),
                                         ("voc/50_labeled_1.txt", 211), ("voc/8_labeled_0.txt", 1322),
                                         ("voc/106_labeled_0.txt", 100), ("cityscapes/8_labeled_1.txt", 371),
                                         ("cityscapes/30_labeled_2.txt", 100)])
def test_the_published_lists_have_the_authors_sizes(name, count):
    from dmt.data.splits import read_published

    ids = read_published(f"dst-cbc/{name}")
    assert len(ids) == len(set(ids)) == count
    assert all("/" not in i for i in ids)  # Cityscapes' city/ folder dropped: prepared ids


def test_a_published_voc_split_partitions_train_aug():
    from dmt.data.splits import read_published

    labeled = read_published("dst-cbc/voc/20_labeled_0.txt")
    valtiny = read_published("dst-cbc/voc/valtiny.txt")
    # train_aug's real ids are not available here: the published ids and fillers, 10,582 in all
    train = sorted(labeled + [f"filler_{k:05d}" for k in range(10582 - len(labeled))])
    val = sorted(valtiny + [f"val_{k:04d}" for k in range(1449 - len(valtiny))])
    split = make_split(train, val, "1/20", 20, seed=0, labeled_ids=labeled, valtiny_ids=valtiny)
    assert len(split.labeled) == 530 and set(split.labeled) == set(labeled)
    assert len(split.unlabeled) == 10052 and not set(split.unlabeled) & set(split.labeled)
    assert len(split.labeled) + len(split.unlabeled) == 10582
    assert sorted(split.valtiny) == sorted(valtiny)
    with pytest.raises(ValueError, match="1 labeled ids are not in the train list, first: \\['2010_003648'\\]"):
        make_split([i for i in train if i != "2010_003648"], val, "1/20", 20, 0, labeled_ids=labeled)
    with pytest.raises(ValueError, match="valtiny ids are not in the val list"):
        make_split(train, val[20:], "1/20", 20, 0, labeled_ids=labeled, valtiny_ids=valtiny)
