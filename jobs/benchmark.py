"""`m2t benchmark` as a script (for `ray job submit -- python jobs/benchmark.py` and the KubeRay RayJobs): m2t/commands/benchmark.py."""

from m2t.cli import run
from m2t.commands.benchmark import main

if __name__ == "__main__":
    run(main)
