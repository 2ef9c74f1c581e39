"""The ``tuwen`` command: one entry point, one sub-command per job.

Sub-commands import only what they need, so ``tuwen text`` or ``tuwen run`` never pay for torch.
"""
import importlib
import logging
import os
import sys

# numpy's OpenBLAS would spread small matrix products (the name model's, in every sub-command that cleans text)
# over every core and keep the others spinning (twice the CPU time for a few per cent of speed): one BLAS thread
# per process, as on a cluster worker (set OPENBLAS_NUM_THREADS yourself to change it; torch, which the trainer
# uses, has threads of its own). Read when numpy loads, so it is set before any import of it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


class _DropBeamImportNoise(logging.Filter):
    """apache_beam warns about optional GCP client libraries on every import; tuwen does not use them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()

# name -> (module, function, one-line help). Each function takes argv (list of str) and returns an exit code.
COMMANDS = {
    "run": ("tuwen.pipeline.run", "main", "run the Beam pipeline: crawled pairs in, WebDataset shards out"),
    "nightly": ("tuwen.pipeline.nightly", "main",
                "the scheduled refresh: clean the crawl's new input files into a new run, publish it"),
    "remove": ("tuwen.pipeline.remove", "main", "take pairs out of a published corpus on request"),
    "calibrate": ("tuwen.pipeline.calibrate", "main", "propose a similarity threshold for a scorer from a manifest"),
    "safety-head": ("tuwen.pipeline.safety_head", "main",
                    "train the safety head (tuwen run --safety-head) from images labelled safe/unsafe"),
    "dedup-index": ("tuwen.pipeline.dedup", "main", "look at or compact a cross-run dedup index"),
    "sample": ("tuwen.pipeline.sample", "main", "write the bundled sample corpus to a folder"),
    "text": ("tuwen.pipeline.text_cli", "main", "clean JSONL captions on stdin with the pipeline's text filters"),
    "lexicon": ("tuwen.pipeline.text_cli", "lexicon_main", "lexicon tools (lint a sensitive-word list)"),
    "train": ("tuwen.trainer.cli", "train_main", "pre-train a dual encoder on the shards"),
    "eval": ("tuwen.trainer.cli", "eval_main", "retrieval (and zero-shot) evaluation of a checkpoint"),
    "finetune": ("tuwen.trainer.cli", "finetune_main", "train a classification head on the image tower"),
}


def usage() -> str:
    lines = ["usage: tuwen COMMAND [options]   (tuwen COMMAND --help for a command's options)", "", "commands:"]
    width = max(len(name) for name in COMMANDS)
    lines += [f"  {name:<{width}}  {help_}" for name, (_, _, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"tuwen: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    if not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.addFilter(_DropBeamImportNoise())
        logging.getLogger().addHandler(handler)
    module, func, _ = COMMANDS[name]
    return int(getattr(importlib.import_module(module), func)(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
