"""The run's end (Finalize), once every shard and reject part is written: the counts checked to add up,
stats.json, report.txt and sizes.json written, stale files of an earlier run and the staging folder deleted, the
run's part of the cross-run dedup index written, and ``_SUCCESS`` last. Also what the summary says (RunSummary,
summarize, report_text).
"""
from __future__ import annotations

import io
import json
import os
from collections import Counter
from typing import NamedTuple, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from tuwen.pipeline.files import _create, _join, _write_atomically, kill_point, list_files
from tuwen.transforms import shards as fmt
from tuwen.transforms.reasons import REASONS
from tuwen.transforms.text_steps import TextStepsConfig, mask_only


def summarize(read: int, shard_results: list, reject_results: list) -> dict:
    by_reason, by_stage = Counter(), Counter()
    for r in reject_results:
        by_reason.update(r["by_reason"])
        by_stage.update(r["by_stage"])
    kept = sum(s["count"] for s in shard_results)
    rejected = sum(r["count"] for r in reject_results)
    return {
        "read": read,
        "kept": kept,
        "rejected": rejected,
        "rejected_by_reason": dict(sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
        "rejected_by_stage": dict(sorted(by_stage.items(), key=lambda kv: (-kv[1], kv[0]))),
        "shards": len(shard_results),
    }


class RunSummary(NamedTuple):
    """What the run was, beyond the counts: written into stats.json and the report."""
    similarity: object  # a dict, or the sentence saying why it was skipped
    dedup: str
    dedup_index: Optional[str]
    scorer_sha256: Optional[str]
    image_safety: object = None  # transforms.safety.SafetyConfig.summary(), or NO_SAFETY
    nightly: Optional[dict] = None  # tuwen nightly's word on the inputs (new_inputs, changed_inputs, ...)
    provenance: Optional[dict] = None  # transforms.provenance.provenance(): version, options, sha256 of the inputs


NO_SCORER = "skipped: no --scorer"
NO_SAFETY = "skipped: --image-safety="


def similarity_summary(scorer) -> object:
    if scorer is None:
        return NO_SCORER
    return {"scorer": scorer.spec, "scorer_sha256": scorer.weights_sha256, "threshold": scorer.threshold,
            "batch_size": scorer.batch_size, "precision": scorer.precision, "device": scorer.device}


def report_text(stats: dict, output: str) -> str:
    lines = [f"tuwen run: {stats['read']} pairs read, {stats['kept']} kept in {stats['shards']} shards, "
             f"{stats['rejected']} rejected."]
    sim = stats.get("similarity")
    if sim == NO_SCORER:
        lines.append(f"similarity: {NO_SCORER} (pairs were not judged as pairs; pass --scorer SPEC and "
                     "--similarity-threshold T, from tuwen calibrate)")
    elif isinstance(sim, dict):
        lines.append(f"similarity: scorer {sim['scorer']} (weights sha256 {sim['scorer_sha256'][:12]}), "
                     f"threshold {sim['threshold']}: "
                     f"{stats['rejected_by_reason'].get('low_similarity', 0)} pairs below it")
    safety = stats.get("image_safety")
    if safety == NO_SAFETY:
        lines.append(f"image safety: {NO_SAFETY} (what the images show was not checked)")
    elif isinstance(safety, dict):
        checks = []
        for name in safety["checks"]:
            about = safety.get(name) or {}
            said = [about.get("model", "")]
            if about.get("threshold") is not None:
                said.append(f"threshold {about['threshold']}")
            if about.get("max_text_share") is not None:
                said.append(f"max text share {about['max_text_share']}")
            if about.get("keep_image_text"):
                said.append("image text kept")
            checks.append(f"{name} ({', '.join(x for x in said if x)})")
        dropped = stats.get("rejected_by_stage", {}).get("safety", 0)
        lines.append(f"image safety: {', '.join(checks)}: {dropped} images rejected")
    if "dedup" in stats:
        lines.append(f"dedup: {stats['dedup']}" + (f", cross-run index {stats['dedup_index']}"
                                                  if stats.get("dedup_index") else ""))
    nightly = stats.get("nightly")
    if nightly:
        lines.append(f"nightly: {nightly['new_inputs']} new input files"
                     + (f", {nightly['reprocessed_changed']} changed ones reprocessed" if nightly["reprocessed_changed"]
                        else ""))
        for c in nightly["changed_inputs"]:
            lines.append(f"  changed_input {c['path']}: {c['change']}"
                         + ("" if nightly["reprocessed_changed"] else " (not reprocessed; --reprocess-changed)"))
    if stats["rejected_by_reason"]:
        lines.append("rejected by reason:")
        width = max(len(r) for r in stats["rejected_by_reason"])
        for reason, n in stats["rejected_by_reason"].items():
            meaning = REASONS.get(reason, ("", ""))[1]
            lines.append(f"  {reason:<{width}} {n:>8}  {meaning}")
    lines += [
        f"shards:     {_join(output, 'shards')}/  (sizes.json lists the sample counts)",
        f"index:      {_join(output, 'index')}/",
        f"reject log: {_join(output, 'rejects')}/",
        f"report:     {_join(output, 'report.html')}, {_join(output, 'stats.json')}, {_join(output, 'report.txt')}",
    ]
    if "boilerplate_mined" in stats:
        lines.append(f"boilerplate: {stats['boilerplate_mined']} fragments mined, listed in "
                     f"{_join(output, 'boilerplate_mined.tsv')} (reuse a reviewed copy with --boilerplate-list)")
    return "\n".join(lines) + "\n"


def write_mined_boilerplate(output: str, fragments: list, text_config: TextStepsConfig) -> str:
    """boilerplate_mined.tsv, each fragment first masked for names and sensitive words (a fragment is corpus text:
    it must not carry a removed original into the output)."""
    from tuwen.transforms.boilerplate import Fragment, write_tsv

    masking = text_config.masking_steps()
    masked = [Fragment(mask_only(f.fragment, masking), f.position, f.doc_count) for f in fragments]
    buf = io.StringIO()
    write_tsv(buf, masked)
    data = buf.getvalue().encode("utf-8")
    path = _join(output, "boilerplate_mined.tsv")
    _write_atomically(path, lambda fh: fh.write(data))
    return path


class _Finalize(beam.DoFn):
    def __init__(self, output: str, staging_dir: str, text_config: Optional[TextStepsConfig] = None,
                 summary: Optional[RunSummary] = None):
        self.output = output
        self.staging_dir = staging_dir
        self.text_config = text_config
        self.summary = summary

    def process(self, _, read, shard_results, reject_results, mined=None):
        stats = summarize(read, shard_results, reject_results)
        if mined is not None:
            stats["boilerplate_mined"] = len(mined)
        if self.summary is not None:
            stats["similarity"] = self.summary.similarity
            stats["image_safety"] = self.summary.image_safety
            stats["dedup"] = self.summary.dedup
            stats["dedup_index"] = self.summary.dedup_index
            if self.summary.nightly is not None:
                stats["nightly"] = self.summary.nightly
            if self.summary.provenance is not None:
                stats["provenance"] = self.summary.provenance
        if stats["read"] != stats["kept"] + stats["rejected"]:
            raise RuntimeError(f"counts do not add up: read {stats['read']} != kept {stats['kept']} + "
                               f"rejected {stats['rejected']}")
        out = self.output
        sizes = {s["shard"]: s["count"] for s in sorted(shard_results, key=lambda s: s["shard"])}
        # A rerun with --overwrite: whatever this run did not write is stale (e.g. extra shards of a larger run).
        wanted = {_join(out, "shards", s["shard"]) for s in shard_results}
        wanted |= {_join(out, "index", s["index"]) for s in shard_results}
        wanted |= {_join(out, "rejects", r["file"]) for r in reject_results}
        stale = [p for folder in ("shards", "index", "rejects") for p in list_files(_join(out, folder, "*"))
                 if p not in wanted and not p.endswith(fmt.SIZES_NAME)]
        if stale:
            FileSystems.delete(stale)
        data = fmt.sizes_json(sizes)
        _write_atomically(_join(out, "shards", fmt.SIZES_NAME), lambda fh: fh.write(data))
        stats_bytes = (json.dumps(stats, indent=2, ensure_ascii=False) + "\n").encode()
        _write_atomically(_join(out, "stats.json"), lambda fh: fh.write(stats_bytes))
        if mined is not None:
            write_mined_boilerplate(out, mined, self.text_config)
        report = report_text(stats, out).encode()
        _write_atomically(_join(out, "report.txt"), lambda fh: fh.write(report))
        staged = list_files(_join(self.staging_dir, "*"))
        if staged:
            FileSystems.delete(staged)
        if not self.staging_dir.startswith(("gs://", "s3://")) and os.path.isdir(self.staging_dir):
            os.rmdir(self.staging_dir)
        if self.summary is not None and self.summary.dedup_index:
            from tuwen.pipeline.dedup import write_index_part

            index_files = [_join(out, "index", s["index"]) for s in shard_results]
            write_index_part(self.summary.dedup_index, out, index_files, self.summary.scorer_sha256,
                             _write_atomically)
            kill_point("dedup_index_written")
        with _create(_join(out, "_SUCCESS")) as fh:
            fh.write(b"")
        yield stats


class Finalize(beam.PTransform):
    """After every shard and reject part is written: check the counts add up, write sizes.json, stats.json and
    report.txt, delete stale files and staging, and write ``_SUCCESS`` last."""

    def __init__(self, output: str, staging_dir: str, text_config: Optional[TextStepsConfig] = None, mined=None,
                 summary: Optional[RunSummary] = None):
        super().__init__()
        self.output = output
        self.staging_dir = staging_dir
        self.text_config = text_config
        self.mined = mined
        self.summary = summary

    def expand(self, inputs):
        read_count, shard_results, reject_results = inputs
        side = {"mined": beam.pvalue.AsSingleton(self.mined)} if self.mined is not None else {}
        return (read_count.pipeline
                | "Once" >> beam.Create([None])
                | "WriteSummaryAndSuccess" >> beam.ParDo(
                    _Finalize(self.output, self.staging_dir, self.text_config, self.summary),
                    read=beam.pvalue.AsSingleton(read_count),
                    shard_results=beam.pvalue.AsList(shard_results),
                    reject_results=beam.pvalue.AsList(reject_results), **side))
