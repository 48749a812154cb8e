"""`m2t demo` as a script (for `ray job submit -- python jobs/demo.py` and the KubeRay RayJobs): m2t/commands/demo.py."""

from m2t.cli import run
from m2t.commands.demo import main

if __name__ == "__main__":
    run(main)
