"""`m2t loadtest` as a script (for `ray job submit -- python jobs/loadtest.py` and the KubeRay RayJobs): m2t/commands/loadtest.py."""

from m2t.cli import run
from m2t.commands.loadtest import main

if __name__ == "__main__":
    run(main)
