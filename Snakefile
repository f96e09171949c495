# dmt-pipeline: Dynamic Mutual Training as a cached DAG (paper Algorithms 1 and 2). See README.md.
include: "workflow/rules/common.smk"
include: "workflow/rules/targets.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/splits.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/pseudo.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
