"""`m2t preprocess` as a script (for `ray job submit -- python jobs/preprocess.py` and the KubeRay RayJobs): m2t/commands/preprocess.py."""

from m2t.cli import run
from m2t.commands.preprocess import main

if __name__ == "__main__":
    run(main)
