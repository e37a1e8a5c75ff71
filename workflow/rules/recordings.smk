# Per-recording evaluation: a video in videos_dir or a marker file in markers_dir →
# results/markers/{video}.* → results/refined/{video}.* → results/eval/{video}.{json,html}.
# The refinement uses the model of the recording's marker set, trained on demand.
rule pose_model:
    """Download the MediaPipe pose model once (config pose_model is a URL); runs where
    Snakemake runs, since cluster nodes often have no internet."""
    output:
        "resources/models/{name}.task",
    log:
        "logs/pose_model/{name}.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        url=config["pose_model"],
    script:
        "../scripts/download_pose_model.py"


rule recording_markers:
    """A video (pose estimation, one person followed) or a marker file → raw markers at the
    model's frame rate, camera frame, gaps filled; plus a picture of one frame."""
    wildcard_constraints:
        video=r"(?!(?:heldout|index|realval|error_model)\.)[^/@]+",  # pairs (session@camera@person): pair_markers
    input:
        unpack(recording_inputs),
    output:
        parquet="results/markers/{video}.parquet",
        trc="results/markers/{video}.trc",
        frame="results/markers/{video}.png",
    log:
        "logs/recording_markers/{video}.log",
    benchmark:
        "benchmarks/recording_markers/{video}.tsv"
    conda:
        "../../envs/recordings.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        fps=config["fps"],
        gap_fill_s=config["gap_fill_s"],
        max_people=config["max_people"],
        video_focal=config["video_focal"],
        axes=config["trc_axes"],
    script:
        "../scripts/recording_markers.py"


rule refine_recording:
    """Raw markers → depth-refined markers with the model of their marker set; for video, then
    on their rays and fitted to the clip's bone lengths (the subject's height from config
    subjects when given; the body's lean nearer upright where the camera's up is known: config
    cameras, or a real-validation pair's calibration)."""
    input:
        markers="results/markers/{video}.parquet",
        model=recording_model,
        code=refine_code(),
    output:
        parquet="results/refined/{video}.parquet",
        trc="results/refined/{video}.trc",
    log:
        "logs/refine_recording/{video}.log",
    benchmark:
        "benchmarks/refine_recording/{video}.tsv"
    conda:
        "../../envs/recordings.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        device=config["eval"]["device"],
        subjects=config["subjects"],
        cameras=config["cameras"],
    script:
        "../scripts/refine_recording.py"


rule recording_report:
    """Metrics before/after (with the Butterworth and Savitzky–Golay baselines) and plots:
    JSON and one self-contained HTML file."""
    input:
        unpack(recording_report_inputs),
    output:
        json="results/eval/{video}.json",
        html=report(
            "results/eval/{video}.html",
            caption="../report/recording.rst",
            category="Recordings",
            labels={"recording": "{video}"},
        ),
    log:
        "logs/recording_report/{video}.log",
    benchmark:
        "benchmarks/recording_report/{video}.tsv"
    conda:
        "../../envs/recordings.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        savgol_window_s=config["eval"]["savgol_window_s"],
    script:
        "../scripts/recording_report.py"


rule recordings_index:
    """An index page over every evaluated recording."""
    input:
        recording_reports,
    output:
        "results/eval/index.html",
    log:
        "logs/recordings_index.log",
    localrule: True
    conda:
        "../../envs/recordings.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/recordings_index.py"


rule recordings:
    """Every video in videos_dir and marker file in markers_dir, with the index page, and the
    models they were refined with (targets, so that an interrupted retrain reruns the reports)."""
    input:
        "results/eval/index.html",
        recording_models,
    localrule: True
