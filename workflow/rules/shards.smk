rule shard_set:
    """All batches of one marker set for the current split assignment, with a manifest (rows,
    clips, sha256 per shard; skipped trials)."""
    input:
        # Every source's acquisition as a plain input, so that all of them are planned (and
        # run in parallel) at once, and a new source re-plans an existing shard set.
        acquired=acquisition_manifests(),
        batches=all_batches,
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
        acquisition_manifests(),
        f"results/shards/{TRAIN_MARKERSET}/manifest.json",
    localrule: True
