rule train_model:
    """Train the depth refiner on the train split, validating on val; resumes an interrupted
    run from results/model/run/last.pt when its config matches."""
    input:
        manifest="results/shards/manifest.json",
        markerset=markerset_files,
    output:
        model="results/model/best.pt",
        metrics="results/model/metrics.json",
    log:
        "logs/train_model.log",
    benchmark:
        "benchmarks/train_model.tsv"
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["num_workers"] + 1
    resources:
        mem_mb=16000,
        runtime=720,
        gpu=1,
    params:
        markerset=config["markerset"],
        model=config["model"],
        train=config["train"],
        loss_weights=config["loss_weights"],
        seed=config["seed"],
        run_dir="results/model/run",
    script:
        "../scripts/train_model.py"
