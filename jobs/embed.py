"""`m2t embed` as a script (for `ray job submit -- python jobs/embed.py` and the KubeRay RayJobs): m2t/commands/embed.py."""

from m2t.cli import run
from m2t.commands.embed import main

if __name__ == "__main__":
    run(main)
