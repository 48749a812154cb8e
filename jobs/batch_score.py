"""`m2t batch-score` as a script (for `ray job submit -- python jobs/batch_score.py` and the KubeRay RayJobs): m2t/commands/batch_score.py."""

from m2t.cli import run
from m2t.commands.batch_score import main

if __name__ == "__main__":
    run(main)
