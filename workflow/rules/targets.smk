# Cheap CPU stages run on the submitting host under a cluster executor.
localrules:
    all,
    prepare,
    convert_coco,
    split,
    dms,
    train_spec,
    pseudo_spec,
    agreement,
    final,
    compare,
    summary,
    final_model,


# A target under results/ that names no run of the configuration (a typo, a run of another
# config): one line naming the runs there are, where Snakemake would say only "No rule to produce".
# The constraint leaves every path of a configured run to the real rules, so this rule never
# competes with them; the folders below a run that are not runs are listed in RUN_FOLDERS.
RUN_FOLDERS = "iter[0-9]+|oracle|dms|plots|predictions|tensorboard"
# `name` is followed by "/" in the path, so each lookahead tests a whole name: an unknown first
# folder, or an experiment's subfolder that is neither one of its runs nor a run folder.
TWO_PART_RUNS = _one_of([r for r in PLAN.runs if "/" in r])
UNKNOWN_RUN = f"(?:(?!(?:{EXPS}|tables)/)[^/]+" f"|(?!(?:{TWO_PART_RUNS})/)(?:{EXPS})/(?!(?:{RUN_FOLDERS})/)[^/]+)"


rule unknown_run:
    input:
        lambda w: _stop(f"results/{w.name}/{w.rest}: {PLAN.unknown_run_message(w.name)}"),
    output:
        "results/{name}/{rest}",
    wildcard_constraints:
        name=UNKNOWN_RUN,
        rest=".+",
