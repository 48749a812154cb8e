"""The ``m2t`` command (``pip install`` puts it on PATH; ``python -m m2t`` is the same): one subcommand per job.

    m2t --help                                   # the subcommands
    m2t pretrain --help                          # a job's options: the same as `python jobs/pretrain.py --help`
    m2t pretrain --config tiny train.pretrain.steps=10

:data:`COMMANDS` names every subcommand, one line each: ``m2t NAME ARGS`` runs ``main()`` of
``m2t.commands.<NAME, - as _>`` (imported only then: ``m2t --help`` and ``m2t configs`` import neither torch nor Ray)
with ``sys.argv`` as its script in ``jobs/`` would see it, ``['m2t NAME', *ARGS]``. The scripts and the subcommands
both go through :func:`run`, so they exit alike: 0 done (even with rejected records), 1 unexpected failure, 2 bad
usage / config / input, 3 mismatched store or checkpoint, 4 the Ray cluster cannot place the job or does not
answer, 130 interrupted (Ctrl-C). Known errors print one line; ``--debug`` (or ``M2T_LOG_LEVEL=DEBUG``) adds their
traceback and m2t's debug log.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from m2t import __version__
from m2t.cluster import ClusterUnreachable
from m2t.config import ConfigError
from m2t.errors import InputError, M2TError, MismatchError, PlacementError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_MISMATCH, EXIT_PLACEMENT, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
LOG_LEVEL_ENV = "M2T_LOG_LEVEL"  # level of m2t's own loggers (INFO by default; DEBUG also prints tracebacks)
log = logging.getLogger("m2t")

COMMANDS = (  # the subcommands, in the order `m2t --help` lists them
    "preprocess",
    "split",
    "embed",
    "pretrain",
    "finetune",
    "evaluate",
    "batch-score",
    "score-variants",
    "describe",
    "serve",
    "demo",
    "configs",
    "plan",
    "study",
    "benchmark",
    "loadtest",
)


def module_name(command: str) -> str:
    return f"m2t.commands.{command.replace('-', '_')}"


def summary(command: str) -> str:
    """The first line of the command module's docstring, read without importing it."""
    origin = importlib.util.find_spec(module_name(command)).origin
    return (ast.get_docstring(ast.parse(Path(origin).read_text())) or "").splitlines()[0]


def parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:12s} {summary(name)}" for name in COMMANDS)
    top = argparse.ArgumentParser(
        prog="m2t",
        description="Mutation2Text: describe what a protein mutation does, in English; train, evaluate and serve "
        "the model on Ray.",
        epilog=f"commands:\n{listing}\n\n`m2t COMMAND --help` lists a command's options. Every job takes --config "
        "(a YAML file, or a shipped config's name: `m2t configs`) and key.sub=value overrides.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"m2t {__version__}")
    top.add_argument("command", choices=COMMANDS, metavar="COMMAND", help="what to run (below)")
    return top


def main() -> None:
    """The console entry point: ``m2t COMMAND [ARGS]``."""
    argv = sys.argv[1:]
    if argv and argv[0] in COMMANDS:
        sys.argv = [f"m2t {argv[0]}", *argv[1:]]
        run(lambda: importlib.import_module(module_name(argv[0])).main())
    parser().parse_args(argv[:1])  # --help, --version, or a usage error naming the commands: each exits
    sys.exit(EXIT_USAGE)


def _fail(exc: BaseException, code: int) -> None:
    """Print ``exc`` as one line (after its traceback when m2t logs at DEBUG) and exit with ``code``."""
    if log.isEnabledFor(logging.DEBUG):
        traceback.print_exception(exc)
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(code)


def run(main: Callable[[], object]) -> None:
    """Run a job's ``main`` and turn known errors into a one-line message and an exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    level = os.environ.get(LOG_LEVEL_ENV, "INFO").upper()
    log.setLevel(level if level in logging.getLevelNamesMapping() else logging.INFO)
    try:
        main()
    except (ConfigError, InputError) as exc:
        _fail(exc, EXIT_USAGE)
    except MismatchError as exc:
        _fail(exc, EXIT_MISMATCH)
    except (PlacementError, ClusterUnreachable) as exc:
        _fail(exc, EXIT_PLACEMENT)
    except M2TError as exc:
        _fail(exc, EXIT_FAILED)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_OK)
