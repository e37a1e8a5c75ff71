rule heldout_report:
    """The held-out quality table: corrupted input, Butterworth 6 Hz, Savitzky–Golay and the
    learned refiner on the test split of the training marker set (config `markerset`); HTML,
    JSON and the refined test sequences."""
    input:
        model=f"results/model/{TRAIN_MARKERSET}/best.pt",
        manifest=f"results/shards/{TRAIN_MARKERSET}/manifest.json",
    output:
        html=report("results/eval/heldout.html", caption="../report/heldout.rst", category="Held-out"),
        json="results/eval/heldout.json",
        refined=directory("results/eval/heldout"),
    log:
        "logs/heldout_report.log",
    benchmark:
        "benchmarks/heldout_report.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        savgol_window_s=config["eval"]["savgol_window_s"],
        device=config["eval"]["device"],
    script:
        "../scripts/heldout_report.py"
