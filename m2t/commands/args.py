"""The arguments every job takes: ``--config FILE`` (or a shipped config's name; default: the tiny config) and
trailing ``key.sub=value`` overrides; and the argparse type of a local path."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from m2t.config import DEFAULT_CONFIG, Config, load_config
from m2t.storage import uri_scheme


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
        logging.getLogger("m2t").setLevel(logging.DEBUG)


def debug_flag(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--debug``: tracebacks of known errors and m2t's debug log (:func:`m2t.cli.run` reads it from the log
    level)."""
    parser.add_argument("--debug", nargs=0, action=_Debug, help="print the traceback of an error, and debug logs")
    return parser


def job_parser(description: str, default_config: Path | None = None) -> argparse.ArgumentParser:
    """The parser of a job: ``--config`` (``default_config``, else the tiny config) and the overrides."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--config",
        type=local_path,
        default=default_config,
        help=f"YAML config file, or the name of a shipped one (`m2t configs`); default: {(default_config or DEFAULT_CONFIG).stem}",
    )
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. train.pretrain.steps=10")
    return debug_flag(parser)


def load(args: argparse.Namespace, extra: list[str] | None = None) -> Config:
    """The validated config from ``--config`` plus overrides (job flags first, then key=value)."""
    return load_config(args.config, [*(extra or []), *args.overrides])
