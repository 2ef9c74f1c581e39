"""Dataflow Flex Template metadata for ``tuwen run`` and ``tuwen nightly``: every option with its help, generated
from the options themselves so that it never drifts (tests/test_deploy.py checks the committed copies).

    python -m tuwen.pipeline.flex_template deploy/flex-template     rewrites run-metadata.json, nightly-metadata.json

Dataflow passes each parameter as ``--NAME=VALUE``; a flag (``--overwrite``) takes no value, so flags are not
parameters: the template's description lists them, for its launch command line. A repeatable option (``--input``)
takes one value in a template.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from tuwen.pipeline.nightly import REFUSED, parser as nightly_parser
from tuwen.pipeline.options import help_parser

REQUIRED = {"run": ("input", "output"), "nightly": ("crawl-root", "output-root")}


def _parameters(parser: argparse.ArgumentParser, required=(), skip=()) -> tuple[list[dict], list[str]]:
    formatter = parser._get_formatter()
    params, flags = [], []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or not action.option_strings:
            continue
        name = action.option_strings[0].lstrip("-")
        if f"--{name}" in skip:
            continue
        text = formatter._expand_help(action) if action.help else ""
        if action.nargs == 0:  # a flag: no value to give
            flags.append(f"--{name}: {text}")
            continue
        params.append({"name": name, "label": name.replace("-", " ").capitalize(), "helpText": text,
                       "isOptional": name not in required})
    return params, flags


def metadata(command: str) -> dict:
    if command == "run":
        params, flags = _parameters(help_parser(), REQUIRED["run"])
        description = help_parser().description
    else:
        own, own_flags = _parameters(nightly_parser(), REQUIRED["nightly"])
        rest, rest_flags = _parameters(help_parser(), skip=REFUSED)
        params, flags = own + rest, own_flags + rest_flags
        description = nightly_parser().description
    return {"name": f"tuwen {command}", "description": description + " Flags (no value; add them to the "
            "template's launch command line if needed): " + "; ".join(flags), "parameters": params}


def write(folder: str) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    paths = []
    for command in ("run", "nightly"):
        path = os.path.join(folder, f"{command}-metadata.json")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(metadata(command), indent=2, ensure_ascii=False) + "\n")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write(sys.argv[1] if len(sys.argv) > 1 else "deploy/flex-template"):
        print(p)
