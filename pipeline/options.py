"""Every option of ``tuwen run`` in one place: a ``PipelineOptions`` subclass, so the options show in Dataflow
templates and anything tuwen does not know passes through to Beam (``--runner``, ``--direct_num_workers``, ...)."""
from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions

DEFAULT_RUNNER = "FnApiRunner"


class TuwenOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        io = parser.add_argument_group("inputs and outputs")
        io.add_argument("--input", action="append", default=None, metavar="GLOB",
                        help="manifests to read: JSONL (.jsonl, .json, .jsonl.gz), Parquet (.parquet) or WebDataset "
                             "tar shards (.tar), local or gs:// / s3://. A glob; repeat for more. Required.")
        io.add_argument("--output", default=None, metavar="DIR",
                        help="output folder: shards/, index/, rejects/, stats.json, report.txt, _SUCCESS. Required.")
        io.add_argument("--overwrite", action="store_true", default=False,
                        help="allow a non-empty --output; files of the earlier run that this run does not write again "
                             "(e.g. extra shards of a larger run) are deleted before _SUCCESS (default: refuse)")
        io.add_argument("--keep-columns", default="", metavar="A,B",
                        help="extra manifest columns copied into KEY.json and the index (default: none)")
        io.add_argument("--shard-size", type=int, default=1000, metavar="N",
                        help="samples per shard (default: %(default)s)")
        img = parser.add_argument_group("image filters")
        img.add_argument("--min-side", type=int, default=256, metavar="PX",
                         help="drop images whose shorter side is below this (default: %(default)s)")
        img.add_argument("--max-aspect-ratio", type=float, default=2.0, metavar="R",
                         help="drop images whose long/short side ratio is above this (default: %(default)s)")
        img.add_argument("--jpeg-quality", type=int, default=90, metavar="Q",
                         help="quality of the re-encoded JPEG (default: %(default)s)")
        img.add_argument("--max-side", type=int, default=0, metavar="PX",
                         help="downscale kept images so the longer side is at most this; 0 keeps the size "
                              "(default: %(default)s)")
        img.add_argument("--max-pixels", type=int, default=89_478_485, metavar="N",
                         help="decompression-bomb guard: drop images with more pixels, judged from the header "
                              "(default: %(default)s, Pillow's limit)")
        img.add_argument("--max-image-bytes", type=int, default=64 * 1024 * 1024, metavar="B",
                         help="drop image files larger than this (default: %(default)s)")
        txt = parser.add_argument_group("text filters")
        txt.add_argument("--max-text-chars", type=int, default=1000, metavar="N",
                         help="drop texts longer than this many characters (default: %(default)s)")
        txt.add_argument("--text-steps", default="boilerplate,names,sensitive", metavar="STEPS",
                         help="text-safety steps, comma-separated, run in the fixed order normalize → boilerplate → "
                              "names → sensitive (normalize always runs); '' for normalisation only "
                              "(default: %(default)s)")
        txt.add_argument("--lexicon", action="append", default=None, metavar="PATH",
                         help="an extra sensitive-word list, one entry per line; repeatable (default: only the "
                              "shipped starter lexicons)")
        txt.add_argument("--allowlist", action="append", default=None, metavar="PATH",
                         help="entries never to mask, one per line; repeatable (default: the shipped allowlist)")
        txt.add_argument("--no-default-lexicons", action="store_true", default=False,
                         help="do not load the shipped starter lexicons (default: load them)")
        txt.add_argument("--no-default-allowlist", action="store_true", default=False,
                         help="do not load the shipped allowlist (default: load it)")
        txt.add_argument("--boilerplate-list", default=None, metavar="TSV",
                         help="reuse a reviewed boilerplate list (fragment, position, doc_count; the format of "
                              "boilerplate_mined.tsv) instead of mining this run's texts (default: mine)")
        txt.add_argument("--boilerplate-min-docs", type=int, default=10, metavar="N",
                         help="a mined fragment must occur in at least this many documents (default: %(default)s)")
        txt.add_argument("--boilerplate-min-distinct", type=float, default=0.5, metavar="SHARE",
                         help="share of those documents whose rest differs: site furniture sits beside different "
                              "texts, a copied post beside the same one (default: %(default)s)")
        txt.add_argument("--boilerplate-sample", type=int, default=20000, metavar="N",
                         help="documents in the hash-based sample that proposes candidates (default: %(default)s)")
        run = parser.add_argument_group("run")
        run.add_argument("--progress-seconds", type=float, default=15.0, metavar="S",
                         help="seconds between progress lines from each worker; 0 turns them off "
                              "(default: %(default)s)")

    def text_steps_config(self):
        from tuwen.transforms.text_steps import TextStepsConfig, parse_step_list

        return TextStepsConfig(steps=parse_step_list(self.text_steps), lexicons=tuple(self.lexicon or ()),
                               allowlists=tuple(self.allowlist or ()),
                               default_lexicons=not self.no_default_lexicons,
                               default_allowlist=not self.no_default_allowlist, max_chars=self.max_text_chars)

    def mining_thresholds(self) -> dict:
        return {"min_doc_count": self.boilerplate_min_docs, "min_distinct_share": self.boilerplate_min_distinct,
                "sample_size": self.boilerplate_sample}

    def keep_column_list(self) -> list[str]:
        return [c.strip() for c in (self.keep_columns or "").split(",") if c.strip()]


HELP_EPILOG = f"""\
Beam options pass through: --runner (default here: {DEFAULT_RUNNER}, the DirectRunner's engine, which needs no
download; e.g. DataflowRunner, FlinkRunner, PortableRunner), --direct_num_workers N and
--direct_running_mode multi_processing for local parallelism, --temp_location, --project, --region, ...
On a cluster also pass --setup_file ./setup.py so workers install tuwen.

Exit status: 0 when the run finished (even if every pair was rejected); 2 for a usage problem (no input matched,
a non-empty --output without --overwrite, an unknown option); 1 when the run failed. Problems print one line.
"""


def help_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuwen run",
        description="Clean crawled Chinese image-text pairs into WebDataset shards. Every pair read ends up either "
                    "in a shard or in the reject log with a reason.",
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    TuwenOptions._add_argparse_args(parser)
    return parser
