"""Joint angles through OpenSim (docs/angles.md): camera-frame markers → a levelled OpenSim
frame (frame.py) → a model scaled on the clip's marker-pair distances (scaling.py) → inverse
kinematics (opensim_run.py); one recording's captures end to end (stages.py). The model,
marker set and setup files are Pose2Sim's BlazePose setup, vendored in opensim_setup/.
"""
