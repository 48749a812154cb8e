"""`m2t split` as a script (for `ray job submit -- python jobs/split.py` and the KubeRay RayJobs): m2t/commands/split.py."""

from m2t.cli import run
from m2t.commands.split import main

if __name__ == "__main__":
    run(main)
