rule joints:
    """BVH → joint positions and rotations (metres, source world axes), resampled to `fps`."""
    input:
        bvh=bvh_of_trial,
    output:
        "results/mocap/joints/{trial}.parquet",
    log:
        "logs/joints/{trial}.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        files_dir=CMU_FILES,
        fps=config["fps"],
        unit_m=config["kinematics"]["unit_m"],
        drop_first_frame=config["kinematics"]["drop_first_frame"],
        min_frames=config["kinematics"]["min_frames"],
    script:
        "../scripts/joints.py"
