"""`m2t serve` as a script (for `ray job submit -- python jobs/serve.py` and the KubeRay RayJobs): m2t/commands/serve.py."""

from m2t.cli import run
from m2t.commands.serve import main

if __name__ == "__main__":
    run(main)
