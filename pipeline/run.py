"""``tuwen run``: parse options, check inputs and output, build the DAG, run it, print the summary.

The DAG, stage by stage (each a labelled composite transform, visible in the runner's UI and in the report):

    MineBoilerplate (texts only) ──┐ side input
    ReadPairs ───────────────→ CheckAndStage → ResolveDuplicates → AssignShards → WriteShards ┐
                                                                 └→ WriteRejects ─────────────┴→ Finalize
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import logging
import sys
import traceback
from typing import Optional, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import (DirectOptions, PipelineOptions, SetupOptions, StandardOptions,
                                                  TestOptions)

from tuwen.pipeline import dedup
from tuwen.pipeline.check_and_stage import CheckAndStage
from tuwen.pipeline.finalize import NO_SAFETY, Finalize, RunSummary, similarity_summary
from tuwen.pipeline.inputs import check_filesystem, expand_inputs
from tuwen.pipeline.progress import ProgressConfig
from tuwen.pipeline.options import DEFAULT_PROGRESS_SECONDS, DEFAULT_RUNNER, TuwenOptions, help_parser, unknown_flags
from tuwen.pipeline.reading import MineRunBoilerplate, ReadPairs
from tuwen.pipeline.sharding import AssignShards, ResolveDuplicates, WriteRejects, WriteShards
from tuwen.transforms.sources import InputError, InputFile, absolute_path, count_pairs

log = logging.getLogger("tuwen")


class UsageError(Exception):
    """A problem the user fixes on the command line; exit status 2."""


class CommandParser(argparse.ArgumentParser):
    """The argument parser of calibrate, safety-head, nightly and remove: an argparse error is one line naming the
    command (exit 2 through :func:`command_main`)."""

    def error(self, message):
        raise SystemExit(f"{self.prog}: {message}")


def command_main(prog: str, parser, body, argv: Optional[Sequence[str]], exits=()) -> int:
    """The main() of a sub-command with tuwen run's options (run, nightly, calibrate, safety-head): --help, progress
    on stderr, a usage problem as one line with exit status 2, ``exits`` (pairs of an exception class and its exit
    status) as one line, any other failure as one line with exit status 1 (the traceback goes to a file)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        parser().print_help()
        return 0
    _setup_logging()
    try:
        return body(argv)
    except SystemExit as e:  # argparse errors: a message of one line, or a status after argparse printed its own
        if isinstance(e.code, int):
            return e.code
        print(e, file=sys.stderr)
        return 2
    except UsageError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        for cls, status in exits:
            if isinstance(e, cls):
                print(f"{prog}: {e}", file=sys.stderr)
                return status
        report_failure(prog, e)
        return 1


def _output_path(output: str) -> str:
    out = absolute_path(output)
    return out.rstrip("/") if len(out) > 1 else out


def prepare_output(output: str, overwrite: bool) -> None:
    existing = [m.path for m in FileSystems.match([FileSystems.join(output, "*")])[0].metadata_list] \
        if FileSystems.exists(output) else []
    if existing and not overwrite:
        raise UsageError(f"--output {output} is not empty; pass --overwrite to replace its contents")
    # Nobody must take a half-rewritten folder for a finished run: the old _SUCCESS goes first.
    success = FileSystems.join(output, "_SUCCESS")
    if FileSystems.exists(success):
        FileSystems.delete([success])


LOCAL_RUNNERS = ("FnApiRunner", "DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner")


def spread_pairs(options: PipelineOptions) -> bool:
    """Shuffle referenced pairs across workers, except on a one-worker local run."""
    runner = options.view_as(StandardOptions).runner or DEFAULT_RUNNER
    runner = runner if isinstance(runner, str) else type(runner).__name__
    workers = options.view_as(DirectOptions).direct_num_workers or 1
    return not (runner.split(".")[-1] in LOCAL_RUNNERS and workers == 1)


def build(p: beam.Pipeline, opts: TuwenOptions, files, output: str, scorer=None, index_parts=(), safety=None,
          nightly=None, provenance=None):
    """The whole DAG on pipeline ``p``; returns the PCollection holding the final stats dict. ``scorer`` is the
    checked ScorerConfig (or None); ``index_parts`` the dedup-index parts of earlier runs; ``safety`` the
    image-safety settings (``opts.safety_config()``, read once by :func:`run`; None: no content check); ``nightly``
    what tuwen nightly says of the inputs (or None); ``provenance`` what the run was (:func:`run_provenance`)."""
    staging = FileSystems.join(output, "_staging")
    image_config = opts.image_config()
    keep = opts.keep_column_list()
    dedup_mode = opts.dedup_mode()
    cross_run = bool(opts.dedup_index)
    pairs = p | "ReadPairs" >> ReadPairs(files, keep, image_config.max_image_bytes)
    read_count = pairs | "CountRead" >> beam.combiners.Count.Globally()
    text_config = opts.text_steps_config()
    fragments, mined = None, None
    if "boilerplate" in text_config.steps:
        if opts.boilerplate_list:
            from tuwen.transforms.boilerplate import read_tsv

            with FileSystems.open(opts.boilerplate_list) as fh:
                fragments = read_tsv(io.StringIO(fh.read().decode("utf-8")))
        else:
            mined = p | "MineBoilerplate" >> MineRunBoilerplate(files, opts.max_text_chars,
                                                                  opts.mining_thresholds())
    outcomes = pairs | "CheckAndStage" >> CheckAndStage(image_config, text_config, staging,
                                                        progress_config(opts, files, p.options), fragments, mined,
                                                        spread_pairs=spread_pairs(p.options), scorer=scorer,
                                                        dedup_mode=dedup_mode, cross_run=cross_run,
                                                        safety=safety, removed=read_removed_list(opts))
    kept, rejected = outcomes | "ResolveDuplicates" >> ResolveDuplicates()
    rejected_parts = [rejected]
    if dedup_mode != "off":
        kept, dups = kept | "DropDuplicatePairs" >> dedup.DropDuplicatePairs()
        rejected_parts.append(dups)
    if cross_run:
        kept, seen = kept | "DropSeenInEarlierRuns" >> dedup.DropSeenInEarlierRuns(index_parts, output)
        rejected_parts.append(seen)
    if len(rejected_parts) > 1:
        rejected = tuple(rejected_parts) | "AllRejects" >> beam.Flatten()
    shard_results = (kept
                     | "AssignShards" >> AssignShards(opts.shard_size)
                     | "WriteShards" >> WriteShards(output, staging, keep))
    reject_results = rejected | "WriteRejects" >> WriteRejects(output)
    summary = RunSummary(
        similarity=similarity_summary(scorer), dedup=dedup_mode,
        dedup_index=_output_path(opts.dedup_index) if opts.dedup_index else None,
        scorer_sha256=scorer.weights_sha256 if scorer else None,
        image_safety=safety.summary() if safety else NO_SAFETY, nightly=nightly, provenance=provenance)
    return (read_count, shard_results, reject_results) | "Finalize" >> Finalize(output, staging, text_config, mined,
                                                                               summary)


def run_provenance(argv: Sequence[str], opts: TuwenOptions, runner, scorer, safety) -> dict:
    """What the run was, for stats.json: every tuwen option's value (but --output and --overwrite, which say where
    it went, not what made it: a rerun into the same folder writes the same stats.json), the runner and the Beam
    options given, and the sha256 of every file that decides what is kept."""
    from tuwen.pipeline.provenance import provenance

    parser = help_parser()
    values = {a.dest: getattr(opts, a.dest) for a in parser._actions if a.dest not in ("help", "output", "overwrite")}
    _, beam_args = parser.parse_known_args(list(argv))
    values["runner"] = runner if isinstance(runner, str) else type(runner).__name__
    values["beam_options"] = [a for a in beam_args if not a.startswith("--runner")]
    files = [*(opts.lexicon or []), *(opts.allowlist or []), opts.boilerplate_list, opts.safety_prompts,
             opts.safety_head, opts.removed_list]
    return provenance(values, [f for f in files if f], safety.checks if safety else (),
                      scorer.weights_sha256 if scorer else None)


def read_list(path: str) -> list[str]:
    """A removal list (--removed-list, tuwen remove --ids, removed.txt): one entry a line, blank lines and # comments
    skipped; local or behind a Beam filesystem."""
    with FileSystems.open(path) as fh:
        lines = fh.read().decode("utf-8").splitlines()
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def read_removed_list(opts: TuwenOptions) -> frozenset:
    """--removed-list: ids and image URLs/paths."""
    return frozenset(read_list(opts.removed_list)) if opts.removed_list else frozenset()


def progress_config(opts: TuwenOptions, files, options: PipelineOptions) -> ProgressConfig:
    """Progress lines every --progress-seconds (by default 15 when stderr is a terminal, else none), with the run's
    total when its inputs can be counted cheaply (sources.count_pairs)."""
    seconds = opts.progress_seconds
    if seconds is None:
        seconds = DEFAULT_PROGRESS_SECONDS if sys.stderr.isatty() else 0.0
    if not seconds:
        return ProgressConfig()
    return ProgressConfig(seconds, count_pairs(files), options.view_as(DirectOptions).direct_num_workers or 1)


def check_scorer(opts: TuwenOptions):
    """Load the scorer on the launching machine before anything runs: a bad SPEC is a usage error (exit 2) and
    nothing is written. Returns the ScorerConfig with the weights' sha256 filled in, or None."""
    try:
        cfg = opts.scorer_config()
    except ValueError as e:
        raise UsageError(str(e)) from None
    if cfg is None:
        return None
    from tuwen.pipeline.relevance import load_checked_scorer
    from tuwen.trainer.scoring import ScorerError

    try:
        scorer = load_checked_scorer(cfg)
    except ScorerError as e:
        raise UsageError(f"--scorer {cfg.spec}: {e}") from None
    log.info("tuwen: scorer %s (%s, weights sha256 %s)", cfg.spec, scorer.kind, scorer.weights_sha256[:12])
    return dataclasses.replace(cfg, weights_sha256=scorer.weights_sha256, image_size=scorer.image_size)


def check_safety_head(safety, scorer) -> None:
    """A --safety-head trained on another scorer's embeddings is a usage error (exit 2), before anything runs."""
    if safety is None or safety.head is None:
        return
    from tuwen.pipeline.relevance import load_checked_scorer
    from tuwen.transforms.safety_head import HeadError, check_head_fits

    try:
        check_head_fits(safety.head, scorer.weights_sha256, load_checked_scorer(scorer).embed_dim)
    except HeadError as e:
        raise UsageError(f"--safety-head {e}") from None


def run(argv: Optional[Sequence[str]] = None, test_pipeline: Optional[beam.Pipeline] = None,
        files: Optional[Sequence[InputFile]] = None, nightly: Optional[dict] = None,
        history: Optional[dict] = None) -> dict:
    """Run the pipeline and return the stats dict (what stats.json holds). Raises UsageError for user mistakes.
    ``files``: the input files, already resolved (tuwen nightly), instead of --input; ``nightly``: what the refresh
    says of them, for stats.json and the report; ``history``: the nights for report.html (``{"run": this run's name,
    "earlier": [{"run", "read", "kept"}, ...]}``)."""
    argv = list(argv or [])
    unknown = unknown_flags(argv)
    if unknown:
        raise UsageError(f"unknown option {unknown[0]} (see tuwen run --help)")
    options = PipelineOptions(argv)
    opts = options.view_as(TuwenOptions)
    if not opts.input and files is None:
        raise UsageError("--input is required (a glob of JSONL, Parquet or tar manifests)")
    if not opts.output:
        raise UsageError("--output is required")
    try:
        opts.validate()
    except ValueError as e:
        raise UsageError(str(e)) from None
    paths = [*(opts.input or []), opts.output, opts.dedup_index, opts.scorer, opts.safety_head, opts.safety_prompts,
             *(opts.lexicon or []), *(opts.allowlist or []), opts.boilerplate_list, opts.removed_list]
    try:
        for path in filter(None, paths):
            check_filesystem(path.split(":", 1)[1] if path.startswith(("cn_clip:", "open_clip:", "tuwen:"))
                             else path)
    except InputError as e:
        raise UsageError(str(e)) from None
    for path in ((opts.lexicon or []) + (opts.allowlist or []) + ([opts.boilerplate_list] if opts.boilerplate_list else [])
                 + ([opts.removed_list] if opts.removed_list else [])):
        if not FileSystems.exists(path):
            raise UsageError(f"no such file: {path}")
    try:
        safety = opts.safety_config()  # read once (a --safety-head file, a --safety-prompts file)
    except ValueError as e:
        raise UsageError(str(e)) from None
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
    dry_run = options.view_as(TestOptions).dry_run
    options.view_as(SetupOptions).save_main_session = False
    if files is None:
        try:
            files = expand_inputs(opts.input)
        except InputError as e:
            raise UsageError(str(e)) from None
    output = _output_path(opts.output)
    scorer = check_scorer(opts)
    check_safety_head(safety, scorer)
    index_parts = dedup.list_index_parts(_output_path(opts.dedup_index), output) if opts.dedup_index else []
    if not dry_run:
        prepare_output(output, opts.overwrite)
    log.info("tuwen: %d input files, runner %s, output %s", len(files), standard.runner, output)
    p = test_pipeline or beam.Pipeline(options=options)
    build(p, opts, files, output, scorer, index_parts, safety, nightly,
          run_provenance(argv, opts, standard.runner, scorer, safety))
    result = p.run()
    if dry_run:
        return {"dry_run": dataflow_translation(p.runner.proto_pipeline)}
    result.wait_until_finish()
    with FileSystems.open(FileSystems.join(output, "stats.json")) as fh:
        stats = json.loads(fh.read().decode())
    from tuwen.pipeline.report import write_report

    nights = None
    if history is not None:
        nights = [*history["earlier"], {"run": history["run"], "read": stats["read"], "kept": stats["kept"]}]
    write_report(output, stats, nights, files, opts.text_steps_config(), opts.image_config().max_image_bytes)
    return stats


def dataflow_translation(proto) -> dict:
    """What a Dataflow dry run made of the pipeline: its top-level stages, environments and staged files."""
    transforms = proto.components.transforms
    top = [transforms[t].unique_name for t in proto.root_transform_ids]
    while len(top) == 1 and transforms[proto.root_transform_ids[0]].subtransforms:  # the pipeline's own wrapper
        top = [transforms[t].unique_name for t in transforms[proto.root_transform_ids[0]].subtransforms]
        break
    envs = []
    for env in proto.components.environments.values():
        from apache_beam.portability.api import beam_runner_api_pb2

        image = ""
        if env.urn == "beam:env:docker:v1":
            image = beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image
        staged = [beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(d.role_payload).staged_name
                  for d in env.dependencies if d.role_urn == "beam:artifact:role:staging_to:v1"]
        envs.append({"urn": env.urn, "image": image, "staged": staged})
    return {"transforms": len(transforms), "stages": top, "environments": envs}


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def report_failure(prog: str, e: Exception) -> None:
    """The run failed: the traceback goes to a file for whoever debugs, one line to the user."""
    detail = traceback.format_exc()
    log_path = "/tmp/tuwen-last-error.log"
    try:
        with open(log_path, "w") as fh:
            fh.write(detail)
    except OSError:
        log_path = "(not written)"
    last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    print(f"{prog}: failed: {type(e).__name__}: {last} (traceback in {log_path})", file=sys.stderr)


def _run_and_print(argv: Sequence[str]) -> int:
    stats = run(argv)
    if "dry_run" in stats:
        t = stats["dry_run"]
        print(f"tuwen run: dry run: translated for Dataflow, not submitted: {t['transforms']} transforms; stages "
              f"{', '.join(t['stages'])}")
        for env in t["environments"]:
            print(f"  environment {env['urn']} {env['image']}: stages {', '.join(env['staged']) or 'nothing'}")
        return 0
    output = _output_path(opts_output(argv))
    with FileSystems.open(FileSystems.join(output, "report.txt")) as fh:
        print(fh.read().decode(), end="")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return command_main("tuwen run", help_parser, _run_and_print, argv)


def opts_output(argv: Sequence[str]) -> str:
    return PipelineOptions(list(argv)).view_as(TuwenOptions).output


if __name__ == "__main__":
    sys.exit(main())
