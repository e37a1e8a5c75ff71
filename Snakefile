# depthrefine: learn to fix the depth errors of monocular markerless motion capture.
# Table of contents; the rules live in workflow/rules, the logic in src/depthrefine.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/acquire.smk"
include: "workflow/rules/kinematics.smk"
include: "workflow/rules/shards.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/recordings.smk"
include: "workflow/rules/angles.smk"
include: "workflow/rules/multiview.smk"


rule all:
    """The default target: the same as `train`."""
    default_target: True
    input:
        final_outputs(),
    localrule: True


rule train:
    """The whole chain: CMU source → shards → trained model → held-out quality report."""
    input:
        final_outputs(),
    localrule: True
