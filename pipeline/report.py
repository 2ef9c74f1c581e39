"""``report.html``: the run report people look at, next to stats.json, self-contained (plots and thumbnails inline).

Written by the launching machine once the pipeline has finished (after ``_SUCCESS``; a rerun rewrites it), from the
run's own outputs: stats.json's counts and provenance, the index (kept pairs), the reject log and the first shard
(thumbnails of kept pairs with their cleaned, masked captions). The reject log holds no image and no text, so the
few rejected examples shown per reason are read again from the inputs (by source and row), and only what
:func:`what_to_show` allows is shown: the caption masked with the run's own masking steps, a thumbnail only for
reasons whose image the run decoded and judged harmless (never one a safety check removed), nothing of a row that
could not be read or of a pair removed on request. Plots are matplotlib (Agg), PNG without a timestamp, so a rerun
writes the same bytes.
"""
from __future__ import annotations

import base64
import html
import io
import json
import logging
import re
import tarfile
from collections import defaultdict
from typing import Optional, Sequence

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from tuwen.pipeline.files import _write_atomically, list_files
from tuwen.transforms.reasons import REASONS
from tuwen.transforms.sources import DEFAULT_MAX_IMAGE_BYTES

log = logging.getLogger("tuwen")

REPORT_NAME = "report.html"
THUMBNAILS = 12  # kept examples shown
THUMB_PX = 128
REJECT_EXAMPLES = 3  # rejected examples per reason
KEPT_COLOUR, REJECTED_COLOUR = "#1f77b4", "#d62728"
HIST_ALPHA = 0.6  # histograms of kept and rejected overlap
_SCORE = re.compile(r"^score (-?[0-9.]+) <")
# Rejected examples: reasons whose image the run decoded and may be shown small; reasons of which nothing is shown.
THUMBNAIL_REASONS = frozenset({"image_too_small", "aspect_ratio", "low_similarity", "duplicate_pair",
                               "seen_in_earlier_run"})
NOTHING_SHOWN = frozenset({"removed_on_request"})
CAPTION_CHARS = 120


def what_to_show(reason: str) -> tuple[bool, bool]:
    """(the masked caption, a thumbnail) of a rejected example: no caption for a row that could not be read (stage
    read) or a pair removed on request; a thumbnail only for THUMBNAIL_REASONS."""
    if reason in NOTHING_SHOWN or REASONS.get(reason, ("read",))[0] == "read":
        return False, False
    return True, reason in THUMBNAIL_REASONS


# A rejected example's image is decoded again only up to this many pixels (header size): the run may have judged it
# from its header alone (image_too_small, aspect_ratio), and a 1 x 80 M pixel strip is no thumbnail worth 800 MB.
THUMB_SOURCE_MAX_PIXELS = 16_000_000


def _thumbnail(data: bytes) -> Optional[str]:
    import warnings

    from PIL import Image, ImageOps

    from tuwen.transforms.image import quiet_decoders

    quiet_decoders()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # what a decoder says of a bad file is no concern of the report's reader
            im = Image.open(io.BytesIO(data))
            if im.width * im.height > THUMB_SOURCE_MAX_PIXELS:
                return None
            im.draft("RGB", (THUMB_PX * 2, THUMB_PX * 2))
            im = ImageOps.exif_transpose(im).convert("RGB")
            im.thumbnail((THUMB_PX, THUMB_PX))
    except Exception:  # a failure here only means no thumbnail; the reject log says what the run found
        return None
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _rejected_samples(wanted: dict, files, masking, max_image_bytes: int) -> dict:
    """(source, row) -> (thumbnail URI or None, masked caption or None) for the rejected examples, read again from
    their input files (each file read until its wanted rows are found)."""
    from tuwen.transforms.pairs import read_image_bytes
    from tuwen.pipeline.inputs import read_bytes, read_pairs
    from tuwen.transforms.text_steps import mask_only

    found = {}
    by_source = defaultdict(dict)
    for (source, row), reason in wanted.items():
        by_source[source][row] = reason
    for f in files or ():
        rows = by_source.get(f.source)
        if not rows:
            continue
        try:
            for pair in read_pairs(f, (), max_image_bytes):
                reason = rows.get(pair.get("row"))
                if reason is None or not isinstance(pair.get("text"), str):
                    continue
                caption, thumb = what_to_show(reason)
                image = read_image_bytes(pair, max_image_bytes, read_bytes) if thumb else None
                found[(f.source, pair["row"])] = (
                    _thumbnail(image) if isinstance(image, bytes) else None,
                    mask_only(pair["text"], masking)[:CAPTION_CHARS] if caption else None)
                if len(found) == len(wanted):
                    return found
        except Exception:  # an input that cannot be read again: its examples keep id, place and detail only
            continue
    return found


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _read_parquet(pattern: str, columns: Sequence[str]) -> dict:
    import pyarrow.parquet as pq

    out = defaultdict(list)
    for path in list_files(pattern):
        with _open(path) as fh:
            table = pq.read_table(io.BytesIO(fh.read()))
        for c in columns:
            if c in table.column_names:
                out[c] += table.column(c).to_pylist()
    return out


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _figure(width=6.4, height=3.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _bars(counts: dict, title: str) -> Optional[str]:
    if not counts:
        return None
    names = list(counts)[::-1]
    fig, ax = _figure(6.4, 0.32 * len(names) + 1.0)
    ax.barh(names, [counts[n] for n in names], color=REJECTED_COLOUR)
    ax.set_title(title)
    ax.set_xlabel("pairs")
    return _png(fig)


def _histograms(series: dict, title: str, xlabel: str, bins=30, line: Optional[float] = None) -> Optional[str]:
    series = {k: v for k, v in series.items() if v}
    if not series:
        return None
    fig, ax = _figure()
    lo = min(min(v) for v in series.values())
    hi = max(max(v) for v in series.values())
    edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)] if hi > lo else bins
    for (label, values), colour in zip(series.items(), (KEPT_COLOUR, REJECTED_COLOUR)):
        ax.hist(values, bins=edges, alpha=HIST_ALPHA, color=colour, label=f"{label} ({len(values)})")
    if line is not None:
        ax.axvline(line, color="black", linestyle="--", label=f"threshold {line}")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pairs")
    ax.legend()
    return _png(fig)


def _nights(history: Sequence[dict]) -> Optional[str]:
    if not history:
        return None
    fig, ax = _figure()
    names = [h["run"] for h in history]
    ax.bar(names, [h["kept"] for h in history], color=KEPT_COLOUR, label="kept")
    ax.bar(names, [h["read"] - h["kept"] for h in history], bottom=[h["kept"] for h in history],
           color=REJECTED_COLOUR, alpha=0.6, label="rejected")
    ax.set_ylabel("pairs")
    share = ax.twinx()
    share.plot(names, [h["kept"] / h["read"] if h["read"] else 0 for h in history], color="black", marker="o",
               label="kept share")
    share.set_ylim(0, 1)
    share.set_ylabel("kept share")
    ax.set_title("nights")
    ax.tick_params(axis="x", labelrotation=30)
    ax.legend(loc="upper left")
    return _png(fig)


def _thumbnails(output: str) -> list[tuple[str, str, str]]:
    """(key, data URI, caption) of the first kept samples of the first shard."""
    from PIL import Image

    shards = list_files(FileSystems.join(output, "shards", "*.tar"))
    if not shards:
        return []
    found: dict = defaultdict(dict)
    with _open(shards[0]) as fh, tarfile.open(fileobj=fh, mode="r|") as tar:
        for member in tar:
            key, _, ext = member.name.partition(".")
            if ext in ("jpg", "txt"):
                found[key][ext] = tar.extractfile(member).read()
            if len([k for k, v in found.items() if len(v) == 2]) >= THUMBNAILS and ext == "txt":
                break
    out = []
    for key, parts in list(found.items())[:THUMBNAILS]:
        if len(parts) < 2:
            continue
        im = Image.open(io.BytesIO(parts["jpg"])).convert("RGB")
        im.thumbnail((THUMB_PX, THUMB_PX))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=80)
        out.append((key, "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode(),
                    parts["txt"].decode("utf-8")))
    return out


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure_html(uri: Optional[str], alt: str, empty: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">' if uri else f"<p class=note>{html.escape(empty)}</p>"


def render(output: str, stats: dict, history: Optional[Sequence[dict]] = None, files=None, text_config=None,
           max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> str:
    """The page. ``files`` (the run's InputFiles) and ``text_config`` let rejected examples show what
    :func:`what_to_show` allows; without them they show id, place and detail only."""
    kept = _read_parquet(FileSystems.join(output, "index", "*.parquet"),
                         ("text", "orig_width", "orig_height", "score"))
    rejected = _read_parquet(FileSystems.join(output, "rejects", "*.parquet"),
                             ("id", "source", "row", "reason", "detail", "orig_width", "orig_height"))
    by_reason, by_stage = stats["rejected_by_reason"], stats["rejected_by_stage"]
    sim = stats.get("similarity")
    threshold = sim.get("threshold") if isinstance(sim, dict) else None
    low = [float(m.group(1)) for r, d in zip(rejected["reason"], rejected["detail"]) if r == "low_similarity"
           for m in [_SCORE.match(d or "")] if m]
    kept_scores = [s for s in kept.get("score", []) if s is not None]

    def sides(d):
        pairs = [(w, h) for w, h in zip(d.get("orig_width", []), d.get("orig_height", [])) if w and h]
        return [min(p) for p in pairs], [max(p) / min(p) for p in pairs]

    kept_short, kept_ratio = sides(kept)
    rej_short, rej_ratio = sides(rejected)
    examples = defaultdict(list)
    for i, reason in enumerate(rejected["reason"]):
        if len(examples[reason]) < REJECT_EXAMPLES:
            examples[reason].append((rejected["id"][i], rejected["source"][i], rejected["row"][i],
                                     rejected["detail"][i] or ""))
    wanted = {(s, r): reason for reason, rows in examples.items() for _, s, r, _ in rows
              if r is not None and any(what_to_show(reason))}
    shown = {}
    if wanted and files and text_config is not None:
        shown = _rejected_samples(wanted, files, text_config.masking_steps(), max_image_bytes)
    share = stats["kept"] / stats["read"] if stats["read"] else 0.0
    parts = [f"<h1>tuwen run report</h1><p class=big>{stats['read']} pairs read: <b>{stats['kept']} kept</b> "
             f"({share:.1%}) in {stats['shards']} shards, {stats['rejected']} rejected.</p>"]
    if history:
        parts.append("<h2>Nights</h2>" + _figure_html(_nights(history), "kept and rejected pairs per night", "")
                     + _table(("run", "read", "kept", "kept share"),
                              [(h["run"], h["read"], h["kept"], f"{h['kept'] / h['read']:.1%}" if h["read"] else "-")
                               for h in history]))
    changed = (stats.get("nightly") or {}).get("changed_inputs")
    if changed:
        again = stats["nightly"]["reprocessed_changed"]
        parts.append(f"<p>changed_input: {len(changed)} input files changed since a night processed them"
                     + (" (reprocessed: --reprocess-changed)" if again else " (not reprocessed; --reprocess-changed "
                        "includes them)") + "</p>" + _table(("changed_input", "change"),
                                                            [(c["path"], c["change"]) for c in changed]))
    reason_rows = [(r, REASONS.get(r, ("?", ""))[0], n, REASONS.get(r, ("", ""))[1]) for r, n in by_reason.items()]
    parts.append("<h2>Why pairs were rejected</h2><div class=row>"
                 + _figure_html(_bars(by_reason, "rejected pairs per reason"), "rejected pairs per reason",
                                "no pair was rejected")
                 + _table(("reason", "stage", "pairs", "meaning"), reason_rows) + "</div><div class=row>"
                 + _figure_html(_bars(by_stage, "rejected pairs per stage"), "rejected pairs per stage", "")
                 + _table(("stage", "pairs"), list(by_stage.items())) + "</div>")
    parts.append("<h2>Similarity</h2>" + _figure_html(
        _histograms({"kept": kept_scores, "low_similarity": low}, "image-text similarity", "cosine similarity",
                    line=threshold), "similarity histogram",
        sim if isinstance(sim, str) else "no scores"))
    parts.append("<h2>Images and texts</h2><div class=row>"
                 + _figure_html(_histograms({"kept": kept_short, "rejected": rej_short}, "shorter side (as read)",
                                            "pixels"), "shorter side histogram", "no image sizes")
                 + _figure_html(_histograms({"kept": kept_ratio, "rejected": rej_ratio},
                                            "aspect ratio (long / short side)", "ratio"), "aspect ratio histogram",
                                "")
                 + _figure_html(_histograms({"kept": [len(t) for t in kept.get("text", []) if t]},
                                            "cleaned caption length", "characters"), "text length histogram",
                                "no kept captions") + "</div>"
                 + "<p class=note>Rejected pairs count in the image plots where their image was read (sizes are "
                   "unknown for pairs rejected before that).</p>")
    thumbs = _thumbnails(output)
    parts.append("<h2>Kept examples</h2><div class=thumbs>" + "".join(
        f'<figure><img src="{uri}" alt="{html.escape(key)}"><figcaption>{html.escape(caption)}</figcaption>'
        "</figure>" for key, uri, caption in thumbs) + "</div>"
        + ("" if thumbs else "<p class=note>no kept pair</p>"))
    rows = []
    for reason in by_reason:
        for pair_id, source, row, detail in examples.get(reason, []):
            thumb, caption = shown.get((source, row), (None, None))
            cell = f'<img src="{thumb}" alt="{html.escape(pair_id)}">' if thumb else ""
            rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
                reason, pair_id, f"{source}#{row}", detail, caption or "")) + f"<td>{cell}</td></tr>")
    parts.append("<h2>Rejected examples</h2><p class=note>A few per reason, read again from the inputs: the caption "
                 "masked as the run masks captions; a thumbnail only where the run decoded the image and no safety "
                 "check removed it; nothing of a row that could not be read or of a pair removed on request.</p>"
                 "<table><tr><th>reason</th><th>id</th><th>read from</th><th>detail</th><th>caption (masked)</th>"
                 "<th>image</th></tr>" + "".join(rows) + "</table>")
    prov = stats.get("provenance") or {}
    what = [("tuwen", prov.get("tuwen")), ("apache_beam", prov.get("apache_beam")), ("python", prov.get("python")),
            ("scorer sha256", prov.get("scorer_sha256") or "-")]
    what += [(f"file {k}", v) for k, v in (prov.get("files") or {}).items()]
    what += [(f"model {k}", v) for k, v in (prov.get("models") or {}).items()]
    options = [(k, json.dumps(v, ensure_ascii=False)) for k, v in (prov.get("options") or {}).items()]
    lexicons = list((prov.get("lexicons") or {}).items())
    parts.append("<h2>What the run was</h2>" + _table(("", "sha256 / version"), what)
                 + f"<details><summary>every option ({len(options)})</summary>{_table(('option', 'value'), options)}"
                 f"</details><details><summary>shipped lexicons and policy files ({len(lexicons)})</summary>"
                 f"{_table(('file', 'sha256'), lexicons)}</details>")
    style = ("body{font-family:sans-serif;max-width:1400px;margin:1em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:.5em 1em;font-size:13px}td,th{border:1px solid #ccc;"
             "padding:2px 6px;text-align:left;vertical-align:top}.row{display:flex;flex-wrap:wrap;align-items:"
             "flex-start}.thumbs{display:flex;flex-wrap:wrap}figure{width:150px;margin:4px;font-size:12px}"
             ".note{color:#666;font-size:13px}.big{font-size:18px}")
    return (f'<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>tuwen run report</title>'
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def write_report(output: str, stats: dict, history: Optional[Sequence[dict]] = None, files=None, text_config=None,
                 max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> Optional[str]:
    """report.html beside stats.json (atomically); None, with one line, when matplotlib is not installed."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        log.info("tuwen: report.html not written: matplotlib is not installed (pip install matplotlib)")
        return None
    data = render(output, stats, history, files, text_config, max_image_bytes).encode("utf-8")
    path = FileSystems.join(output, REPORT_NAME)
    _write_atomically(path, lambda fh: fh.write(data))
    return path
