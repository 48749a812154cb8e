"""Shared command-line plumbing for the thin scripts in jobs/.

Every job takes ``--config FILE`` (default: the embedded tiny config) and trailing
``key.sub=value`` overrides. Exit codes: 0 done (even with rejected records), 1 unexpected
failure, 2 bad usage / config / input, 3 mismatched store or checkpoint, 4 the Ray cluster cannot place the job
or does not answer, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from m2t.cluster import ClusterUnreachable
from m2t.config import Config, ConfigError, load_config
from m2t.errors import InputError, M2TError, MismatchError, PlacementError
from m2t.storage import uri_scheme

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_MISMATCH, EXIT_PLACEMENT, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


def local_path(value: str) -> Path:
    """The argparse type of a file-system path: a URI is refused (``Path`` would turn ``s3://b/x`` into a local
    ``s3:/b/x`` silently)."""
    if uri_scheme(value) is not None:
        raise argparse.ArgumentTypeError(
            f"{value}: object storage is not supported here; give a path on a local or shared file system "
            "(object storage works for embed.store and train.storage_path)"
        )
    return Path(value)


def job_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", type=local_path, default=None, help="YAML config (default: jobs/configs/tiny.yaml)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. train.pretrain.steps=10")
    return parser


def load(args: argparse.Namespace, extra: list[str] | None = None) -> Config:
    """The validated config from ``--config`` plus overrides (job flags first, then key=value)."""
    return load_config(args.config, [*(extra or []), *args.overrides])


def run(main: Callable[[], object]) -> None:
    """Run a job's ``main`` and turn known errors into a one-line message and an exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        main()
    except (ConfigError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except MismatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_MISMATCH)
    except (PlacementError, ClusterUnreachable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_PLACEMENT)
    except M2TError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_OK)
