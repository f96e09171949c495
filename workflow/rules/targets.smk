# Cheap CPU stages run on the submitting host under a cluster executor.
localrules:
    all,
    prepare,
    convert_coco,
    split,
    dms,
    train_spec,
    pseudo_spec,
    final,
    compare,
    summary,


# Every run whose data (and pretrained weights) are configured: the digits ones always, VOC /
# Cityscapes / CIFAR-10 once their roots (and the checkpoints) are set.
rule all:
    input:
        [run.final_path for run in PLAN.runs.values() if PLAN.has_raw_inputs(run.exp.name)],
