# Cheap CPU stages run on the submitting host under a cluster executor.
localrules:
    all,
    prepare_digits,
    split,
    dms,
    final,


rule all:
    input:
        expand("results/{exp}/final_miou.json", exp=EXPERIMENTS),
