"""The digits demo's data as your own data: a prepared digits set (`python -m dmt prepare digits`)
written in the folder data set's layout, to run the `folder` path on the images, labeled ids and
hyper-parameters of `digits_1_20` and compare the two.

The labeled ids are those of a digits_1_20 split (its labeled.txt), with their masks; the other
train canvases go to unlabeled/ without masks; val keeps its masks. Images and masks are copied
as they are, so the folder run sees the same pixels. In a scratch directory:

    snakemake -s REPO/Snakefile --directory RUN --cores 2 resources/splits/digits_1_20/labeled.txt
    python REPO/benchmarks/folder_digits.py --digits RUN/resources/data/digits \\
        --labeled RUN/resources/splits/digits_1_20/labeled.txt --out RUN/folder_digits
    snakemake -s REPO/Snakefile --directory RUN --cores 2 --config folder_root=RUN/folder_digits \\
        results/my_data/final_miou.json results/digits_1_20/final_miou.json

`my_data` (config/config.yaml) is digits_1_20 with `dataset: folder` and `labeled: all`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digits", required=True, type=Path, help="a prepared digits folder (VOC layout)")
    parser.add_argument("--labeled", required=True, type=Path, help="labeled ids, e.g. a digits_1_20 labeled.txt")
    parser.add_argument("--out", required=True, type=Path, help="the folder to write (must not exist)")
    args = parser.parse_args(argv)
    if args.out.exists():
        parser.error(f"{args.out} exists; give a new folder")
    for path in (args.digits / "ImageSets" / "Segmentation" / "train.txt", args.labeled):
        if not path.is_file():
            parser.error(f"{path} does not exist")
    sys.path.insert(0, str(REPO / "tests"))  # the converter is shared with the tests
    from helpers.files import digits_as_folder

    labeled = args.labeled.read_text().split()
    root = digits_as_folder(args.digits, args.out, labeled)
    counts = {name: len(list((root / name / "images").iterdir())) for name in ("labeled", "unlabeled", "val")}
    print(json.dumps({"folder": str(root), **counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
