"""Shared command-line plumbing for the thin scripts in jobs/.

Every job takes ``--config FILE`` (default: the embedded tiny config) and trailing
``key.sub=value`` overrides. Exit codes: 0 done (even with rejected records), 1 unexpected
failure, 2 bad usage / config / input, 3 mismatched store or checkpoint, 4 the Ray cluster cannot place the job
or does not answer, 130 interrupted (Ctrl-C). Known errors print one line; ``--debug`` (or ``M2T_LOG_LEVEL=DEBUG``)
adds their traceback and m2t's debug log.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from m2t.cluster import ClusterUnreachable
from m2t.config import Config, ConfigError, load_config
from m2t.errors import InputError, M2TError, MismatchError, PlacementError
from m2t.storage import uri_scheme

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_MISMATCH, EXIT_PLACEMENT, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
LOG_LEVEL_ENV = "M2T_LOG_LEVEL"  # level of m2t's own loggers (INFO by default; DEBUG also prints tracebacks)
log = logging.getLogger("m2t")


def local_path(value: str) -> Path:
    """The argparse type of a file-system path: a URI is refused (``Path`` would turn ``s3://b/x`` into a local
    ``s3:/b/x`` silently)."""
    if uri_scheme(value) is not None:
        raise argparse.ArgumentTypeError(
            f"{value}: object storage is not supported here; give a path on a local or shared file system "
            "(object storage works for embed.store and train.storage_path)"
        )
    return Path(value)


class _Debug(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None) -> None:
        log.setLevel(logging.DEBUG)


def debug_flag(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--debug``: tracebacks of known errors and m2t's debug log (:func:`run` reads it from the log level)."""
    parser.add_argument("--debug", nargs=0, action=_Debug, help="print the traceback of an error, and debug logs")
    return parser


def job_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", type=local_path, default=None, help="YAML config (default: jobs/configs/tiny.yaml)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. train.pretrain.steps=10")
    return debug_flag(parser)


def load(args: argparse.Namespace, extra: list[str] | None = None) -> Config:
    """The validated config from ``--config`` plus overrides (job flags first, then key=value)."""
    return load_config(args.config, [*(extra or []), *args.overrides])


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
