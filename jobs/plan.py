"""`m2t plan` as a script (for `ray job submit -- python jobs/plan.py` and the KubeRay RayJobs): m2t/commands/plan.py."""

from m2t.cli import run
from m2t.commands.plan import main

if __name__ == "__main__":
    run(main)
