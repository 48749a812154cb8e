"""`m2t evaluate` as a script (for `ray job submit -- python jobs/evaluate.py` and the KubeRay RayJobs): m2t/commands/evaluate.py."""

from m2t.cli import run
from m2t.commands.evaluate import main

if __name__ == "__main__":
    run(main)
