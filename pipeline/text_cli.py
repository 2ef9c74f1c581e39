"""``tuwen text`` and ``tuwen lexicon lint``: the pipeline's text filters on JSONL, without a Beam runner.

``tuwen text --text-steps normalize,boilerplate,names,pii,sensitive [--lexicon PATH ...] [--allowlist PATH ...]
[--boilerplate-list PATH] [--max-text-chars N]`` reads JSONL on stdin and writes one JSONL line per input line, in
order: the input's fields, with ``text`` cleaned, plus ``edits`` (every change, in code points of the raw input text)
and, for a line the pipeline would drop, ``dropped`` = ``{stage, reason}``. A line that is not a JSON object gets
``{"error": ...}``. Its options are tuwen run's, with tuwen run's names (:mod:`tuwen.pipeline.text_options`; the old
``--steps`` and ``--max-chars`` still work this release, deprecated), and it builds the same
:class:`~tuwen.transforms.text.TextCleaner` the pipeline's text stage builds. It imports neither apache_beam nor
torch: the names and boilerplate steps are imported only when asked for.

``tuwen lexicon lint --lexicon L --sample CORPUS.jsonl [--write-allowlist OUT]`` prints the lexicon entries that
would mask the most characters of a sample corpus, with counts, so that a user can review a noisy public list
before a run, and drafts an allowlist from them.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import IO, Iterable, Optional, Sequence

from tuwen.pipeline.text_options import OLD_NAMES, add_lexicon_arguments, add_text_arguments, text_steps_config
from tuwen.transforms.text import EditedText, Normalize, TextCleaner

DEFAULT_STEPS = "normalize"  # tuwen text's default: normalisation only (tuwen run's is every step)


# ---------------------------------------------------------------------------------------------------------------
# Building the cleaner
# ---------------------------------------------------------------------------------------------------------------

def sensitive_step(args):
    """The sensitive step for ``tuwen lexicon lint`` (which also offers --no-hygiene)."""
    from tuwen.transforms.sensitive import MaskSensitiveWords, SensitiveConfig
    return MaskSensitiveWords(SensitiveConfig(
        lexicons=tuple(args.lexicon or ()), allowlists=tuple(args.allowlist or ()),
        default_lexicons=not args.no_default_lexicons, default_allowlist=not args.no_default_allowlist,
        hygiene=not getattr(args, "no_hygiene", False)))


def boilerplate_fragments(list_path: Optional[str], texts: Optional[Sequence[str]]) -> list:
    """The boilerplate fragments: a reviewed TSV list, or mined over ``texts`` (the whole input)."""
    from tuwen.transforms import boilerplate as bp
    return bp.read_tsv(list_path) if list_path else bp.mine_boilerplate(list(texts or ()))


def _text_of_line(line: str) -> Optional[str]:
    """The normalised ``text`` of one input line, for mining (None for an invalid line)."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    return _normalized(obj.get("text")) if isinstance(obj, dict) else None


def _normalized(raw) -> Optional[str]:
    """What the boilerplate step sees of a raw text: the text after normalisation (None for a non-text)."""
    if not isinstance(raw, str):
        return None
    et = EditedText(raw)
    et.apply("normalize", Normalize().find(raw))
    return et.text


# ---------------------------------------------------------------------------------------------------------------
# tuwen text
# ---------------------------------------------------------------------------------------------------------------

def _text_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="tuwen text",
        description="Clean JSONL captions on stdin with the pipeline's text filters; JSONL out, one line per line in. "
                    "The options are tuwen run's text options, with the same names and meaning; the default runs "
                    "normalisation only.")
    add_text_arguments(ap, steps_default=DEFAULT_STEPS, old_names=True)
    return ap


def clean_record(cleaner: TextCleaner, line: str) -> dict:
    """One output record for one input line."""
    return clean_records(cleaner, [line])[0]


def clean_records(cleaner: TextCleaner, lines: Sequence[str]) -> list[dict]:
    """One output record per input line, the block's texts cleaned together (:meth:`TextCleaner.clean_many`)."""
    out: list = [None] * len(lines)
    objs: list[tuple[int, dict]] = []
    for i, line in enumerate(lines):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            out[i] = {"error": f"invalid JSON: {e.msg} at column {e.colno}"}
            continue
        if not isinstance(obj, dict):
            out[i] = {"error": f"not a JSON object ({type(obj).__name__})"}
            continue
        objs.append((i, obj))
    for (i, obj), res in zip(objs, cleaner.clean_many([obj.get("text") for _, obj in objs])):
        rec = dict(obj)
        rec["text"] = res.text
        rec["edits"] = [ed.as_dict() for ed in res.edits]
        if res.dropped is not None:
            rec["dropped"] = {"stage": res.dropped[0], "reason": res.dropped[1]}
        else:
            rec.pop("dropped", None)
        out[i] = rec
    return out


BLOCK_LINES = 512  # lines cleaned together and written at once: per-line calls and writes cost more than cleaning


def run_text(lines: Iterable[str], out: IO[str], cleaner: TextCleaner) -> int:
    """Clean JSONL ``lines`` into ``out``, one record per line, in order; returns the number of lines."""
    dumps = json.dumps
    block: list[str] = []
    n = 0

    def flush() -> None:
        recs = clean_records(cleaner, block)
        out.write("".join(dumps(r, ensure_ascii=False) + "\n" for r in recs))
        block.clear()

    for line in lines:
        block.append(line.rstrip("\r\n"))
        n += 1
        if len(block) >= BLOCK_LINES:
            flush()
    if block:
        flush()
    return n


def _utf8_stdio() -> None:
    """JSONL is UTF-8 whatever the locale; a stray invalid byte becomes U+FFFD instead of killing the run."""
    for stream, errors in ((sys.stdin, "replace"), (sys.stdout, "strict")):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors=errors)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _text_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    _utf8_stdio()
    for old in dict.fromkeys(getattr(args, "old_names_used", [])):
        new = next(n for n, o in OLD_NAMES.items() if o == old)
        print(f"tuwen text: {old} is deprecated, use {new} (the old name goes in the next release)", file=sys.stderr)
    try:
        config = text_steps_config(args)  # the TextStepsConfig tuwen run makes from the same options
        lines: Iterable[str] = sys.stdin
        fragments = None
        if "boilerplate" in config.steps:
            texts = None
            if not args.boilerplate_list:
                lines = sys.stdin.readlines()  # mining needs the whole input before the first line is cleaned
                texts = [t for t in map(_text_of_line, lines) if t]
            fragments = boilerplate_fragments(args.boilerplate_list, texts)
        cleaner = config.build(fragments)
    except (OSError, ValueError) as e:
        print(f"tuwen text: {e}", file=sys.stderr)
        return 2
    run_text(lines, sys.stdout, cleaner)
    sys.stdout.flush()
    return 0


# ---------------------------------------------------------------------------------------------------------------
# tuwen lexicon lint
# ---------------------------------------------------------------------------------------------------------------

def _lint_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="tuwen lexicon lint",
        description="Print the sensitive-word entries that would mask the most characters of a sample corpus.")
    add_lexicon_arguments(ap)
    ap.add_argument("--sample", required=True, metavar="CORPUS.jsonl", help="JSONL with a text field per line")
    ap.add_argument("--field", default="text", help="JSON field holding the text (default: text)")
    ap.add_argument("--top", type=int, default=40, help="how many entries to print (default 40)")
    ap.add_argument("--min-docs", type=int, default=2,
                    help="--write-allowlist only takes entries masked in at least this many texts (default 2)")
    ap.add_argument("--no-hygiene", action="store_true", help="judge the lists as they are, every entry masked")
    ap.add_argument("--write-allowlist", metavar="OUT",
                    help="write the listed public-list entries to OUT as a draft allowlist to review")
    return ap


def _read_sample(path: str, field: str) -> list[str]:
    texts = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                vals = obj.get(field)
                for v in (vals if isinstance(vals, list) else [vals]):
                    t = _normalized(v)
                    if t:
                        texts.append(t)
    return texts


def lint_counts(step, texts: Sequence[str]) -> tuple[Counter, Counter, int, int]:
    """Per canonical entry: masked characters and texts; plus total masked and total characters."""
    matcher = step.matcher
    chars: Counter = Counter()
    docs: Counter = Counter()
    masked = total = 0
    for t in texts:
        total += len(t)
        seen = set()
        for m in matcher.matches(t, step.config.max_gap):
            if m.masked:
                chars[m.key] += m.end - m.start
                seen.add(m.key)
        docs.update(seen)
        masked += sum(e - s for s, e in matcher.spans(t, step.config.max_gap))
    return chars, docs, masked, total


def lexicon_main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: tuwen lexicon lint --lexicon L --sample CORPUS.jsonl [--write-allowlist OUT]\n\n"
              "sub-commands:\n  lint   entries of a sensitive-word list that would mask the most of a sample")
        return 0 if argv else 2
    if argv[0] != "lint":
        print(f"tuwen lexicon: unknown sub-command {argv[0]!r} (try: tuwen lexicon lint --help)", file=sys.stderr)
        return 2
    args = _lint_parser().parse_args(argv[1:])
    _utf8_stdio()
    try:
        texts = _read_sample(args.sample, args.field)
        step = sensitive_step(args).setup()
    except OSError as e:
        print(f"tuwen lexicon lint: {e}", file=sys.stderr)
        return 2
    matcher = step.matcher
    chars, docs, masked, total = lint_counts(step, texts)
    stats = matcher.stats
    print(f"lexicons: {stats.get('entries', 0)} entries; " +
          ", ".join(f"{k} {v}" for k, v in sorted(stats.items()) if k != "entries"))
    share = 100 * masked / total if total else 0.0
    print(f"sample: {len(texts)} texts, {total} characters; masked {masked} characters ({share:.3f} %)")
    print(f"\n{'rank':>4} {'chars':>7} {'texts':>6}  {'class':<16} {'entry':<20} source")
    top = chars.most_common(args.top)
    for i, (key, n) in enumerate(top, 1):
        strength, reason, original, source = matcher.info[key]
        print(f"{i:>4} {n:>7} {docs[key]:>6}  {reason:<16} {original:<20} {source}")
    if not top:
        print("   (no entry masks anything in this sample)")
    if args.write_allowlist:
        picked = [matcher.info[k][2] for k, _ in top
                  if docs[k] >= args.min_docs and matcher.info[k][1] != "trusted"]
        with open(args.write_allowlist, "w", encoding="utf-8") as f:
            f.write("# Draft allowlist written by `tuwen lexicon lint` from the entries that masked the most of\n"
                    f"# {args.sample} ({len(texts)} texts). Review it: delete every line that is truly sensitive,\n"
                    "# then pass it with --allowlist. One entry per line; # lines are comments.\n")
            f.writelines(p + "\n" for p in picked)
        print(f"\nwrote {len(picked)} entries to {args.write_allowlist} (review before use)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
