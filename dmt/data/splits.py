"""Seeded labeled / unlabeled / valtiny splits, written as plain id-per-line text files."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from dmt.tasks import task_of

# The paper's own labeled lists and valtiny sets, as its authors published them (README inside).
PUBLISHED = Path(__file__).resolve().parent / "published_splits"


@dataclass
class Split:
    labeled: list[str]
    unlabeled: list[str]
    valtiny: list[str]


def labeled_count(total: int, labeled: str | int | float) -> int:
    """Number of labeled ids: a count (int, e.g. 100) or a ratio ('1/20', 0.05) of ``total``.

    A ratio follows the authors' rule: floor(total * ratio), plus one when that is 1 modulo 8
    (no last batch of one image at batch size 8), e.g. 1/20 of VOC's 10,582 -> 529 -> 530,
    1/8 -> 1,322, 1/50 -> 211; Cityscapes 1/8 of 2,975 -> 371.
    """
    if isinstance(labeled, bool):
        raise ValueError(f"labeled must be a count or a ratio, got {labeled!r}")
    if isinstance(labeled, int):
        count = labeled
    else:
        try:
            ratio = Fraction(labeled) if isinstance(labeled, str) else Fraction(labeled).limit_denominator(10**6)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"labeled ratio {labeled!r} is neither a count nor a ratio like '1/20'") from None
        if not 0 < ratio <= 1:
            raise ValueError(f"labeled ratio {labeled!r} must lie in (0, 1]")
        count = math.floor(ratio * total)
        if count % 8 == 1:
            count += 1
    if not 1 <= count <= total:
        raise ValueError(f"{count} labeled ids asked of a set of {total}")
    return count


def published_path(name: str) -> Path:
    """The file of a published list, e.g. ``dst-cbc/voc/20_labeled_0.txt``."""
    path = (PUBLISHED / name).resolve()
    if PUBLISHED not in path.parents or not path.is_file():
        known = sorted(str(p.relative_to(PUBLISHED)) for p in PUBLISHED.rglob("*.txt"))
        raise ValueError(f"no published list {name!r}; known: {', '.join(known)}")
    return path


def read_published(name: str) -> list[str]:
    """Ids of a published list; the Cityscapes lists name images ``city/city_seq_frame``, the
    prepared data set ``city_seq_frame``: the folder part is dropped."""
    lines = published_path(name).read_text().split()
    return [line.rsplit("/", 1)[-1] for line in lines]


def _pick(rng: random.Random, pool: list[str], count: int, fixed: Sequence[str] | None, what: str,
          pool_name: str) -> set[str]:
    """``count`` ids drawn from ``pool``, or the ``fixed`` ones, checked to lie in it and to be
    ``count``."""
    if fixed is None:
        return set(rng.sample(pool, count))
    members = set(pool)
    absent = [i for i in fixed if i not in members]
    if absent:
        raise ValueError(f"{len(absent)} {what} ids are not in the {pool_name} list, first: {absent[:5]}")
    if len(set(fixed)) != count:
        raise ValueError(f"the {what} list has {len(set(fixed))} ids but the split asks for {count}")
    return set(fixed)


def make_split(train_ids: Sequence[str], val_ids: Sequence[str] | None, labeled: str | int | float,
               valtiny: int, seed: int, labeled_ids: Sequence[str] | None = None,
               valtiny_ids: Sequence[str] | None = None) -> Split:
    """Seeded split: labeled and unlabeled partition ``train_ids``; valtiny is drawn from ``val_ids``.

    ``labeled_ids`` fixes the labeled part instead of drawing it (VOC's 1,464 ``train`` ids of
    Table 5, or another study's published list); ``labeled`` must then be its size.
    ``valtiny_ids`` likewise fixes valtiny (ids of ``val_ids``; ``valtiny`` must be its size).
    ``val_ids`` None draws valtiny from ``train_ids`` instead, before the labeled / unlabeled
    partition of the rest (classification: the test set is never used for selection).
    Lists keep the data set's order within each part, so the files diff cleanly across seeds.
    """
    train_ids = list(train_ids)
    if val_ids is None:
        if not 0 < valtiny < len(train_ids):
            raise ValueError(f"valtiny of {valtiny} asked of {len(train_ids)} train ids")
        tiny = set(random.Random(f"valtiny-{seed}").sample(train_ids, valtiny))
        rest = make_split([i for i in train_ids if i not in tiny], [], labeled, 0, seed, labeled_ids)
        return Split(rest.labeled, rest.unlabeled, [i for i in train_ids if i in tiny])
    val_ids = list(val_ids)
    for name, ids in (("train", train_ids), ("val", val_ids)):
        if len(set(ids)) != len(ids):
            raise ValueError(f"the {name} id list has duplicates")
    n = labeled_count(len(train_ids), labeled)
    if not 0 <= valtiny <= len(val_ids) or (valtiny == 0 and val_ids):
        raise ValueError(f"valtiny of {valtiny} asked of {len(val_ids)} val ids")
    rng = random.Random(seed)
    chosen = _pick(rng, train_ids, n, labeled_ids, "labeled", "train")
    tiny = _pick(rng, val_ids, valtiny, valtiny_ids, "valtiny", "val")
    return Split(
        labeled=[i for i in train_ids if i in chosen],
        unlabeled=[i for i in train_ids if i not in chosen],
        valtiny=[i for i in val_ids if i in tiny],
    )


def classes_without_labels(data_root, ids: Sequence[str], num_classes: int) -> list[int]:
    """Indices of the classes that no id of ``ids`` labels in the prepared data at ``data_root``:
    no pixel of their masks (segmentation, VOC layout) or no image (classification layout). Reads
    the masks of ``ids`` only, and stops once every class has been seen."""
    import numpy as np

    from dmt import IGNORE_INDEX

    root = Path(data_root)
    if (root / "lists").is_dir():  # the classification layout (dmt.data.classification)
        from dmt.data.classification import ClassificationDataset

        seen = np.bincount(ClassificationDataset(root, ids).labels, minlength=num_classes) > 0
    else:
        from dmt.data.voc import read_mask

        seen = np.zeros(256, bool)
        for image_id in ids:
            mask = read_mask(root / "SegmentationClass" / f"{image_id}.png", num_classes)
            seen |= np.bincount(mask.ravel(), minlength=256) > 0
            if seen[:num_classes].all():
                break
        seen[IGNORE_INDEX] = False
    return [c for c in range(num_classes) if not seen[c]]


def unlabeled_classes_message(data_root, labeled: Sequence[str], class_names: Sequence[str], task: str,
                              seed: int, drawn: bool) -> str | None:
    """What to say where a class has no labeled pixel (segmentation) or image (classification)
    among ``labeled`` (``drawn`` with split seed ``seed``, or a fixed list); None where all have."""
    missing = classes_without_labels(data_root, labeled, len(class_names))
    if not missing:
        return None
    what = task_of(task).labeled_unit
    source = (f"split seed {seed} draws {len(labeled)} labeled ids" if drawn
              else f"the fixed labeled list ({len(labeled)} ids)")
    advice = ("choose another split_seed or a larger labeled set" if drawn
              else "the models will never predict them")
    return (f"{source} of {data_root}, in which class(es) {[class_names[c] for c in missing]} have no "
            f"{what}: a class the labeled set never shows cannot be learnt; {advice}")
