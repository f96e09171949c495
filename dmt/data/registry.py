"""Everything the pipeline knows about each data set: task, classes, on-disk layout, and how it is
prepared (which local files of the user's it reads, which function converts them).

Adding a data set: an entry in DATASETS and its name in the config schema's ``dataset`` enum.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

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
    # ``module:function`` writing the prepared folder; called with ``out_root`` and, by keyword, the
    # raw inputs and options below.
    prepare: str = ""
    # Top-level config keys of local files the preparation reads (see RAW_INPUTS).
    raw_inputs: tuple[str, ...] = ()
    # Keys of the config's ``digits:`` section that parameterise an embedded data set.
    options: tuple[str, ...] = ()
    # Those of ``options`` that must be above 0 for it (else it would hold nothing): the plan
    # refuses a configuration that uses it otherwise, before any job.
    positive_options: tuple[str, ...] = ()
    # A data set whose classes are the user's: the file in its raw and prepared folders naming
    # them (``dataset_info(name, root)`` reads it; class_names stays empty without a root).
    classes_file: str = ""
    # RGB per class where the data set defines colours (None: VOC's palette colour of the index).
    class_colors: tuple = ()
    # The data set's own list of labeled ids (its masks); the split takes it as it is.
    labeled_split: str = ""
    # Whether the train ids outside the labeled list have ground truth (for the accuracy of
    # pseudo labels and the fully supervised oracle).
    unlabeled_masks: bool = True
    # ``module:function`` the plan calls at configuration time with the raw inputs (by keyword):
    # class names and list sizes read from file names, before preparation (dmt.data.folder.inspect).
    inspect: str = ""

    @property
    def num_classes(self) -> int:
        if not self.class_names and self.classes_file:
            raise ValueError(f"the classes of data set {self.name} are in its {self.classes_file}: "
                             f"call dataset_info({self.name!r}, root)")
        return len(self.class_names)


# Local files the pipeline reads but cannot make (nothing is downloaded): config key -> what it is.
RAW_INPUTS = {
    "voc_root": "the folder holding VOC2012/JPEGImages (e.g. .../VOCdevkit)",
    "sbd_root": "the folder holding benchmark_RELEASE/dataset/cls/*.mat",
    "cityscapes_root": "the folder holding leftImg8bit/ and gtFine/",
    "cifar10_root": "the folder holding cifar-10-batches-py/ (CIFAR-10, python version)",
    "coco_checkpoint": "the Caffe-converted COCO DeepLab-v2 weights (e.g. resnet101COCO-41f33a49.pth)",
    "imagenet_checkpoint": "a torchvision resnet101 ImageNet state dict (e.g. resnet101-63fe2227.pth)",
    "deeplabv3_coco_checkpoint": "torchvision's deeplabv3_resnet101 state dict "
                                 "(e.g. deeplabv3_resnet101_coco-586e9e4e.pth)",
    "timm_checkpoint": "the timm state dict of the experiment's encoder "
                       "(torch.save(timm.create_model(NAME).state_dict()))",
    "folder_root": "your own data: the folder holding classes.yaml, labeled/, unlabeled/ and val/",
}

DATASETS = {
    "digits": DatasetInfo("digits", DIGITS_CLASSES, prepare="dmt.data.prepare.digits:prepare_digits",
                          options=("seed", "n_train", "n_val", "pretrain_share")),
    # The two pre-trainings of the demo (the paper's COCO and ImageNet), drawn only from the glyphs
    # that digits.pretrain_share sets apart from the digits canvases.
    "digits_style": DatasetInfo("digits_style", DIGITS_CLASSES,
                                prepare="dmt.data.prepare.digits_style:prepare_digits_style",
                                options=("seed", "pretrain_share", "style_train", "style_val"),
                                positive_options=("pretrain_share",)),
    "digits_glyphs": DatasetInfo("digits_glyphs", tuple(str(d) for d in range(10)), task="classification",
                                 test_split="test", prepare="dmt.data.prepare.digits_glyphs:prepare_digits_glyphs",
                                 options=("seed", "pretrain_share", "glyph_renderings", "glyph_test_renderings"),
                                 positive_options=("pretrain_share",)),
    "voc": DatasetInfo("voc", VOC_CLASSES, train_split="train_aug", train_size=10582,
                       prepare="dmt.data.prepare.voc:prepare_voc", raw_inputs=("voc_root", "sbd_root")),
    "cityscapes": DatasetInfo("cityscapes", CITYSCAPES_CLASSES, image_ext=".png", train_size=2975,
                              prepare="dmt.data.prepare.cityscapes:prepare_cityscapes",
                              raw_inputs=("cityscapes_root",)),
    # The modern protocol's Cityscapes: the same files at full resolution (1024 x 2048).
    "cityscapes_full": DatasetInfo("cityscapes_full", CITYSCAPES_CLASSES, image_ext=".png", train_size=2975,
                                   prepare="dmt.data.prepare.cityscapes_full:prepare_cityscapes_full",
                                   raw_inputs=("cityscapes_root",)),
    "cifar10": DatasetInfo("cifar10", CIFAR10_CLASSES, train_size=50000, task="classification",
                           test_split="test", prepare="dmt.data.prepare.cifar10:prepare_cifar10",
                           raw_inputs=("cifar10_root",)),
    # 1,797 scikit-learn digits less the 497 held out for test (prepare_digits_cls's default).
    "digits_cls": DatasetInfo("digits_cls", tuple(str(d) for d in range(10)), task="classification",
                              test_split="test", train_size=1300,
                              prepare="dmt.data.prepare.digits_cls:prepare_digits_cls", options=("seed",)),
    # Your own images (dmt/data/folder.py): masks for the labeled and val ones only.
    "folder": DatasetInfo("folder", (), image_ext=".png", prepare="dmt.data.folder:prepare_folder",
                          raw_inputs=("folder_root",), classes_file="classes.yaml",
                          labeled_split="labeled", unlabeled_masks=False,
                          inspect="dmt.data.folder:inspect"),
}


def dataset_info(name: str, root=None) -> DatasetInfo:
    """What the pipeline knows about data set ``name``; for one whose classes are the user's
    (``classes_file``), ``root`` is a folder holding that file (raw or prepared) to read them."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    info = DATASETS[name]
    if info.classes_file and root is not None:
        from dmt.data.folder import read_classes

        classes = read_classes(Path(root) / info.classes_file)
        info = replace(info, class_names=classes.names, class_colors=classes.colors)
    return info


def _function(spec: str):
    import importlib

    module, _, function = spec.partition(":")
    return getattr(importlib.import_module(module), function)


def prepare_function(name: str):
    """The function that prepares data set ``name``."""
    return _function(dataset_info(name).prepare)


def inspect_function(name: str):
    """The function that reads data set ``name``'s raw inputs at configuration time."""
    return _function(dataset_info(name).inspect)
