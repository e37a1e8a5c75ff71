rule corrupt:
    """World markers → camera frame, corrupted depth: one shard (all variants) per trial."""
    input:
        corruption_input,
    output:
        "results/shards/{markerset}/{split}/{trial}.parquet",
    log:
        "logs/corrupt/{markerset}/{split}/{trial}.log",
    benchmark:
        "benchmarks/corrupt/{markerset}/{split}/{trial}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        corruption=config["corruption"],
        seed=config["seed"],
        row_group_frames=config["shards"]["row_group_frames"],
    script:
        "../scripts/corrupt.py"


rule shard_set:
    """All shards of one marker set for the current split assignment, with a manifest (rows,
    clips, sha256)."""
    input:
        all_shards,
    output:
        manifest="results/shards/{markerset}/manifest.json",
    log:
        "logs/shards/{markerset}.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        splits=split_assignment,
        config=shard_set_config,
        shards_root=shards_root,
    script:
        "../scripts/shard_manifest.py"


rule shards:
    """The shards of the training marker set (config `markerset`)."""
    input:
        f"results/shards/{TRAIN_MARKERSET}/manifest.json",
    localrule: True
