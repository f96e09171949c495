"""The data set of a prepared folder for a list of ids, as training, labelling, evaluation and the
report read it: segmentation (VOC layout) or classification, augmented for training or not.
"""

from __future__ import annotations

from dmt.errors import DMTError
from dmt.tasks import task_of


def make_dataset(name: str, root, ids, *, augment=None, pseudo=None, with_masks=True):
    """The data set ``name`` at ``root`` restricted to ``ids``; with ``augment`` (a TrainSpec),
    augmented for training as the data set's task does it."""
    from dmt.data.registry import dataset_info

    info = dataset_info(name, root)
    return task_of(info).build_dataset(name, root, ids, info, augment=augment, pseudo=pseudo,
                                       with_masks=with_masks)


def classification_dataset(name: str, root, ids, info, *, augment=None, pseudo=None, with_masks=True):
    from dmt.data.classification import ClassificationDataset

    transform = None
    if augment:
        from dmt.data.classification_transforms import AUGMENT, classification_train_transform  # torchvision

        transform = classification_train_transform(**AUGMENT[name])
    return ClassificationDataset(root, ids, transform=transform, pseudo=pseudo, with_labels=with_masks)


def segmentation_dataset(name: str, root, ids, info, *, augment=None, pseudo=None, with_masks=True):
    from dmt.data.segmentation import SegmentationDataset

    transform = None
    if augment:
        from dmt.data.transforms import train_transform  # torchvision: training jobs only

        if augment.crop_size is None:
            raise DMTError("segmentation training needs crop_size in the spec's hyper-parameters")
        transform = train_transform(augment.crop_size, augment.scale_range)
    return SegmentationDataset(root, ids, info.num_classes, transform=transform,
                               with_masks=with_masks, pseudo=pseudo, image_ext=info.image_ext)
