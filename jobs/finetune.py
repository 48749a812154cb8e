"""`m2t finetune` as a script (for `ray job submit -- python jobs/finetune.py` and the KubeRay RayJobs): m2t/commands/finetune.py."""

from m2t.cli import run
from m2t.commands.finetune import main

if __name__ == "__main__":
    run(main)
