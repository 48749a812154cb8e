"""`m2t score-variants` as a script (for `ray job submit -- python jobs/score_variants.py`): m2t/commands/score_variants.py."""

from m2t.cli import run
from m2t.commands.score_variants import main

if __name__ == "__main__":
    run(main)
