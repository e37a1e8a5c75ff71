# The data stages run in batches (docs/data.md, "Batched data jobs"): one job per batch of
# trials of one source parses each file (BVH, or AMC on its ASF), runs forward kinematics,
# places the marker set through the source's skeleton map and corrupts the depth, writing one
# shard per trial. workflow/rules/shards.smk gathers the batches of every source.
rule shard_batch:
    """A batch of trials → one shard (all variants) per trial, and the batch's index: BVH →
    joints at `fps` → world markers of the marker set → camera frame with corrupted depth."""
    input:
        motion=batch_motion_files,
        markerset=markerset_files,
        skeleton_map=skeleton_map_file,
    output:
        directory("results/shards/{markerset}/batches/{source}/{batch}"),
    log:
        "logs/shard_batch/{markerset}/{source}/{batch}.log",
    benchmark:
        "benchmarks/shard_batch/{markerset}/{source}/{batch}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        trials=batch_trials,
        markerset=markerset_file,
        fps=config["fps"],
        kinematics=batch_kinematics,
        corruption=config["corruption"],
        seed=config["seed"],
        row_group_frames=config["shards"]["row_group_frames"],
        on_bad_file=lambda wildcards: source_settings(wildcards)["on_bad_file"],
    script:
        "../scripts/shard_batch.py"
