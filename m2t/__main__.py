"""``python -m m2t COMMAND ...``: the ``m2t`` command where its console script is not on PATH."""

from m2t.cli import main

if __name__ == "__main__":
    main()
