checkpoint acquire_source:
    """Fetch one mocap source's files (git, archive or local folder), check each parses (an
    AMC with its ASF), and write the manifest with sha256 per file."""
    input:
        source_files,
    output:
        manifest=f"{MOCAP}/{{source}}/manifest.tsv",
    log:
        "logs/acquire/{source}.log",
    benchmark:
        "benchmarks/acquire/{source}.tsv"
    conda:
        "../../envs/acquire.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        settings=acquisition_settings,
        files_dir=lambda wildcards: f"{MOCAP}/{wildcards.source}/files",
    script:
        "../scripts/acquire_source.py"
