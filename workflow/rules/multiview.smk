# Real multi-camera validation (docs/multiview.md): sessions in multiview_dir → BlazePose per
# camera → triangulated reference per person (a checkpoint: who is there is known only then)
# → every camera × person pair as a monocular recording → results/eval/{pair}.json (recording
# rules, with the reference section) → results/eval/realval.{html,json}.
rule multiview_poses:
    """Every person BlazePose detects in one camera of a session, in each pose mode."""
    input:
        video=session_video,
        pose_model=POSE_MODEL,
        code=package_code("capture/pose.py", "multiview/poses.py"),
    output:
        "results/multiview/{session}/poses/{camera}.npz",
    log:
        "logs/multiview_poses/{session}/{camera}.log",
    benchmark:
        "benchmarks/multiview_poses/{session}/{camera}.tsv"
    conda:
        "../../envs/recordings.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        max_people=config["multiview"]["max_people"],
        modes=config["multiview"]["pose_modes"],
    script:
        "../scripts/multiview_poses.py"


checkpoint multiview_reference:
    """People associated across views, labels agreed, cameras refined, points triangulated
    from ≥ 3 views: {person}.parquet, qc.json, qc.html, pairs.json, calibration_refined.toml."""
    input:
        unpack(session_reference_inputs),
    output:
        directory("results/reference/{session}"),
    log:
        "logs/multiview_reference/{session}.log",
    benchmark:
        "benchmarks/multiview_reference/{session}.tsv"
    conda:
        "../../envs/recordings.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        settings=config["multiview"],
    script:
        "../scripts/multiview_reference.py"


rule pair_markers:
    """One camera × person pair: that camera's own monocular markers as a recording, and the
    reference in that camera's frame."""
    input:
        reference="results/reference/{session}",
        poses="results/multiview/{session}/poses/{camera}.npz",
        markerset=config["video_markerset"],
        code=package_code("multiview/stages.py", "capture/recording.py", "capture/sequence.py"),
    output:
        parquet="results/markers/{session}@{camera}@{person}.parquet",
        trc="results/markers/{session}@{camera}@{person}.trc",
        frame="results/markers/{session}@{camera}@{person}.png",
        reference="results/reference_camera/{session}@{camera}@{person}.parquet",
    log:
        "logs/pair_markers/{session}@{camera}@{person}.log",
    conda:
        "../../envs/recordings.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        fps=config["fps"],
        gap_fill_s=config["gap_fill_s"],
        world_up=config["multiview"]["world_up"],
        floor_height_m=config["multiview"]["floor_height_m"],
    script:
        "../scripts/pair_markers.py"


use rule refine_recording as refine_recording_on_sources with:
    input:
        markers="results/markers/{video}.parquet",
        model=subset_model,
        code=refine_code(),
    output:
        parquet="results/refined/sources/{subset}/{video}.parquet",
        trc="results/refined/sources/{subset}/{video}.trc",
    log:
        "logs/refine_recording/sources/{subset}/{video}.log",
    benchmark:
        "benchmarks/refine_recording/sources/{subset}/{video}.tsv"


rule realval_compare:
    """Every evaluated pair refined by the model trained on a subset of the sources (config
    realval_compare_sources), scored against the reference as the pair reports score theirs."""
    input:
        unpack(realval_compare_inputs),
        code=package_code("evaluation/realval.py"),
    output:
        "results/eval/realval/sources/{subset}.json",
    log:
        "logs/realval_compare/{subset}.log",
    localrule: True
    conda:
        "../../envs/recordings.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/realval_compare.py"


use rule heldout_report as realval_synthetic with:
    # The video model's synthetic held-out table (its shards' test split: corrupted input,
    # Butterworth, Savitzky–Golay, learned) beside the real one, so that a gain on real pairs
    # is not bought with a loss on synthetic data.
    input:
        model=f"results/model/{MARKERSET_NAMES['video_markerset']}/best.pt",
        manifest=f"results/shards/{MARKERSET_NAMES['video_markerset']}/manifest.json",
        code=package_code("evaluation/heldout.py", "evaluation/metrics.py", "model/refine.py", "model/windows.py"),
    output:
        html="results/eval/realval/synthetic.html",
        json="results/eval/realval/synthetic.json",
        refined=directory("results/eval/realval/synthetic"),
    log:
        "logs/realval_synthetic.log",
    benchmark:
        "benchmarks/realval_synthetic.tsv"


rule realval_summary:
    """The summary over every evaluated camera × person pair of every session, with each
    person's reference QC: results/eval/realval.{html,json}."""
    input:
        reports=realval_reports,
        qc=realval_qc,
        compare=[f"results/eval/realval/sources/{subset}.json" for subset in SUBSETS],
        synthetic="results/eval/realval/synthetic.json",
        code=package_code("evaluation/realval.py", "angles/catalogue.py"),
    output:
        json="results/eval/realval.json",
        html=report(
            "results/eval/realval.html",
            caption="../report/realval.rst",
            category="Real validation",
        ),
    log:
        "logs/realval_summary.log",
    localrule: True
    conda:
        "../../envs/recordings.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        fit_pairs=config["error_model_fit_pairs"],
    script:
        "../scripts/realval.py"


rule realval:
    """`snakemake realval`: the summary, and the video model it scores (a model deleted by an
    interrupted retrain is a missing target, so the summary is rebuilt, never left stale)."""
    input:
        "results/eval/realval.html",
        "results/eval/realval.json",
        "results/eval/error_model.html",
        f"results/model/{MARKERSET_NAMES['video_markerset']}/best.pt",
        [f"results/model/{MARKERSET_NAMES['video_markerset']}/sources/{subset}/best.pt" for subset in SUBSETS],
    localrule: True


rule fit_error_model:
    """The monocular error model fitted to the real residuals of the pairs matching
    error_model_fit_pairs, compared with every pair's: results/eval/error_model.{yaml,json,html,png}
    (the YAML is a corruption.monocular block for the config; docs/model.md)."""
    input:
        markers=lambda wc: [f"results/markers/{p}.parquet" for p in realval_pairs()],
        references=lambda wc: [f"results/reference_camera/{p}.parquet" for p in realval_pairs()],
        markerset=config["video_markerset"],
        code=package_code(
            "evaluation/error_fit.py", "evaluation/error_model_report.py", "markers/monocular.py"
        ),
    output:
        yaml="results/eval/error_model.yaml",
        json="results/eval/error_model.json",
        png="results/eval/error_model.png",
        html=report("results/eval/error_model.html", caption="../report/error_model.rst", category="Real validation"),
    log:
        "logs/fit_error_model.log",
    localrule: True
    conda:
        "../../envs/recordings.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        fit_pairs=config["error_model_fit_pairs"],
        configured=config["corruption"]["monocular"],
        seed=config["seed"],
    script:
        "../scripts/fit_error_model.py"
