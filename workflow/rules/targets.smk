# Cheap CPU stages run on the submitting host under a cluster executor.
localrules:
    all,
    prepare_digits,
    prepare_voc,
    prepare_cityscapes,
    prepare_digits_cls,
    prepare_cifar10,
    convert_coco,
    split,
    dms,
    final,
    final_cls,


# Every experiment whose data (and pretrained weights) are configured: the digits ones always,
# VOC / Cityscapes once voc_root + sbd_root / cityscapes_root (and the checkpoints) are set.
rule all:
    input:
        [f"results/{e}/final_{'miou' if task(e) == 'segmentation' else 'acc'}.json"
         for e in EXPERIMENTS if has_raw_inputs(e)],
