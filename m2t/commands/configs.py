"""List the configs shipped in the package, or copy one out to edit.

    m2t configs                              # name, kind and what each is
    m2t configs copy tiny my.yaml            # then: m2t pretrain --config my.yaml
    m2t configs copy llama3_esm3 configs/    # into a directory, under its own name

Any job takes a shipped config by name (`--config llama3_esm3`); its relative paths resolve against the working
directory. A copy's resolve against the copy's directory, so the copy's relative paths are rewritten to point where
the original's did from here (a copy into the working directory is the original, byte for byte).
"""

from __future__ import annotations

import argparse

from m2t.commands.args import local_path
from m2t.config import CONFIGS_DIR
from m2t.shipped import copy_config, listing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    actions = parser.add_subparsers(dest="action", metavar="{copy}")
    copy = actions.add_parser(
        "copy", help="copy a shipped config to edit", description="Copy a shipped config to edit."
    )
    copy.add_argument("name", help="a shipped config: tiny, llama3_esm3, zero2.json, ... (the list: m2t configs)")
    copy.add_argument("dest", type=local_path, help="the new file, or a directory to copy it into")
    args = parser.parse_args()
    if args.action == "copy":
        print(f"configs: copied {args.name} to {copy_config(args.name, args.dest)}")
        return
    entries = listing()
    width = max(len(e["name"]) for e in entries)
    print(f"shipped configs, in {CONFIGS_DIR} (--config NAME uses one; `m2t configs copy NAME DEST` copies one):")
    for e in entries:
        print(f"  {e['name']:{width}s}  {e['kind']:9s}  {e['summary']}")
