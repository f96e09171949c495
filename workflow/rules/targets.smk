# Cheap CPU stages run on the submitting host under a cluster executor.
localrules:
    all,
    prepare_digits,
    prepare_voc,
    prepare_cityscapes,
    convert_coco,
    split,
    dms,
    final,


# Every experiment whose data (and pretrained weights) are configured: the digits ones always,
# VOC / Cityscapes once voc_root + sbd_root / cityscapes_root (and the checkpoints) are set.
rule all:
    input:
        expand("results/{exp}/final_miou.json", exp=[e for e in EXPERIMENTS if has_raw_inputs(e)]),
