"""What the pipeline needs to know about each data set: classes and on-disk layout."""

from __future__ import annotations

from dataclasses import dataclass

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
DIGITS_CLASSES = ("background",) + tuple(str(d) for d in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
    "bicycle",
)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    class_names: tuple[str, ...]
    # ImageSets/Segmentation list that the labeled / unlabeled split partitions.
    train_split: str = "train"
    # Prepared images: JPEG where the source is JPEG, lossless PNG where it is PNG (Cityscapes).
    image_ext: str = ".jpg"
    # Images in the whole train list (the paper's denominators: 1/20 of 10,582, 1/8 of 2,975).
    train_size: int | None = None
    task: str = "segmentation"  # or "classification" (Algorithm 1)
    # Classification: the list of held-out test images (segmentation evaluates on val).
    test_split: str = "val"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


DATASETS = {
    "digits": DatasetInfo("digits", DIGITS_CLASSES),
    "voc": DatasetInfo("voc", VOC_CLASSES, train_split="train_aug", train_size=10582),
    "cityscapes": DatasetInfo("cityscapes", CITYSCAPES_CLASSES, image_ext=".png", train_size=2975),
    "cifar10": DatasetInfo("cifar10", CIFAR10_CLASSES, train_size=50000, task="classification",
                           test_split="test"),
    # 1,797 scikit-learn digits less the 497 held out for test (prepare_digits_cls's default).
    "digits_cls": DatasetInfo("digits_cls", tuple(str(d) for d in range(10)), task="classification",
                              test_split="test", train_size=1300),
}


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]
