rule train_model:
    """Train the depth refiner for one marker set on the train split, validating on val;
    resumes an interrupted run from results/model/{markerset}/run/last.pt when its config
    matches. Per-video refinement asks for the model of its input's marker set."""
    input:
        manifest="results/shards/{markerset}/manifest.json",
        markerset=markerset_files,
    output:
        model="results/model/{markerset}/best.pt",
        metrics="results/model/{markerset}/metrics.json",
    log:
        "logs/train_model/{markerset}.log",
    benchmark:
        "benchmarks/train_model/{markerset}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: config["train"]["num_workers"] + 1
    resources:
        mem_mb=16000,
        runtime=720,
        gpu=1,
    params:
        markerset=markerset_file,
        model=config["model"],
        train=config["train"],
        loss_weights=config["loss_weights"],
        seed=config["seed"],
        run_dir=run_dir,
        source_weights={name: source["weight"] for name, source in SOURCES.items()},
    script:
        "../scripts/train_model.py"


use rule train_model as train_model_on_sources with:
    """The same model trained on some of the sources only (the others weigh 0), for the
    real-validation comparison (config realval_compare_sources): how much the other sources'
    motion adds."""
    output:
        model="results/model/{markerset}/sources/{subset}/best.pt",
        metrics="results/model/{markerset}/sources/{subset}/metrics.json",
    log:
        "logs/train_model/{markerset}/sources/{subset}.log",
    benchmark:
        "benchmarks/train_model/{markerset}/sources/{subset}.tsv"
    params:
        markerset=markerset_file,
        model=config["model"],
        train=config["train"],
        loss_weights=config["loss_weights"],
        seed=config["seed"],
        run_dir=lambda wildcards: f"results/model/{wildcards.markerset}/sources/{wildcards.subset}/run",
        source_weights=subset_weights,
