"""`m2t pretrain` as a script (for `ray job submit -- python jobs/pretrain.py` and the KubeRay RayJobs): m2t/commands/pretrain.py."""

from m2t.cli import run
from m2t.commands.pretrain import main

if __name__ == "__main__":
    run(main)
