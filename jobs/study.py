"""`m2t study` as a script (for `ray job submit -- python jobs/study.py` and the KubeRay RayJobs): m2t/commands/study.py."""

from m2t.cli import run
from m2t.commands.study import main

if __name__ == "__main__":
    run(main)
