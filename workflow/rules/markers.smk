rule world_markers:
    """Joints → marker positions of the configured marker set (world axes)."""
    input:
        joints="results/mocap/joints/{trial}.parquet",
        markerset=markerset_files,
    output:
        "results/mocap/markers/{markerset}/{trial}.parquet",
    log:
        "logs/markers/{markerset}/{trial}.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        markerset=markerset_file,
    script:
        "../scripts/world_markers.py"
