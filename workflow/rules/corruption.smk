rule corrupt:
    """World markers → camera frame, corrupted depth: one shard (all variants) per trial."""
    input:
        corruption_input,
    output:
        "results/shards/{split}/{trial}.parquet",
    log:
        "logs/corrupt/{split}/{trial}.log",
    benchmark:
        "benchmarks/corrupt/{split}/{trial}.tsv"
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


rule shards:
    """All shards of the current split assignment, with a manifest (rows, clips, sha256)."""
    input:
        all_shards,
    output:
        manifest="results/shards/manifest.json",
    log:
        "logs/shards.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        splits=split_assignment,
        config={
            k: config[k]
            for k in (
                "cmu",
                "fps",
                "kinematics",
                "markerset",
                "corruption",
                "split",
                "seed",
            )
        },
    script:
        "../scripts/shard_manifest.py"
