checkpoint acquire_cmu:
    """Fetch the CMU BVH files (git, archive or local mirror), check each parses, and write
    the manifest with sha256 per file."""
    input:
        cmu_source_files,
    output:
        manifest=CMU_MANIFEST,
    log:
        "logs/acquire_cmu.log",
    benchmark:
        "benchmarks/acquire_cmu.tsv"
    conda:
        "../../envs/acquire.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        source=config["cmu"]["source"],
        source_type=config["cmu"]["source_type"],
        git_ref=config["cmu"]["git_ref"],
        include=config["cmu"]["include"],
        exclude=config["cmu"]["exclude"],
        on_bad_file=config["cmu"]["on_bad_file"],
        fps_range=config["cmu"]["fps_range"],
        files_dir=CMU_FILES,
    script:
        "../scripts/acquire_cmu.py"
