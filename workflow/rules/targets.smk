rule all:
    input:
        expand("results/{exp}/final_miou.json", exp=EXPERIMENTS),
