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
    final_model,

