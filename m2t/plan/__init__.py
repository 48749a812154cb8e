"""The capacity planner (``jobs/plan.py``): what a config needs per stage, without building weights or starting Ray.

``capacity.py`` computes the plan, ``profile.py`` reads the data's counts and lengths, ``shapes.py`` builds the
modules on the meta device and measures a step on fake tensors, ``flops.py`` counts FLOPs from the architecture,
``epochs.py`` turns a stage's epochs into steps (the trainer uses it too), ``report.py`` prints the plan.
"""
