# depthrefine: learn to fix the depth errors of monocular markerless motion capture.
# Table of contents; the rules live in workflow/rules, the logic in src/depthrefine.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/kinematics.smk"
include: "workflow/rules/markers.smk"
include: "workflow/rules/corruption.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/recordings.smk"


rule all:
    default_target: True
    input:
        "results/eval/heldout.html",
        "results/eval/heldout.json",
    localrule: True


rule train:
    input:
        "results/eval/heldout.html",
        "results/eval/heldout.json",
    """The whole chain: CMU source → shards → trained model → held-out quality report."""
    localrule: True
