# Joint angles per recording (docs/angles.md): the captures of a recording — raw, Butterworth,
# refined, bone fit (video) and the reference (camera × person pairs) — in one levelled
# OpenSim frame, each scaled on its own marker-pair distances, then inverse kinematics.
rule joint_angles:
    """A refined recording → results/kinematics/{video}/: per capture a TRC in the OpenSim
    frame, the scaled model, the .mot of joint angles and the IK marker errors; angles.json."""
    wildcard_constraints:
        video=r"[^/]+",
    input:
        unpack(joint_angles_inputs),
    output:
        directory("results/kinematics/{video}"),
    log:
        "logs/joint_angles/{video}.log",
    benchmark:
        "benchmarks/joint_angles/{video}.tsv"
    conda:
        "../../envs/recordings.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        model=config["joint_angles"]["model"],
        subjects=config["subjects"],
    script:
        "../scripts/joint_angles.py"
