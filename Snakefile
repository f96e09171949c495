# dmt-pipeline: Dynamic Mutual Training as a cached DAG (paper Algorithms 1 and 2). See README.md.
include: "workflow/rules/common.smk"


# Every run whose data (and pretrained weights) are configured: the digits ones always, VOC /
# Cityscapes / CIFAR-10 / your folder once their roots (and the checkpoints) are set. Its final
# summary, its exported model and, where predict_images is set, the predictions. It is defined
# here: Snakemake takes the default target (`snakemake --cores N`) only from the main Snakefile's
# rules, never from an included file's.
rule all:
    input:
        [path for run in PLAN.runs.values() if PLAN.has_raw_inputs(run.exp.name) for path in run.deliverables()],


include: "workflow/rules/targets.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/splits.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/pseudo.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/deliver.smk"
