"""Text cleaning: the edit-tracking core every text step runs through, normalisation and the basic checks.

A text step (normalize, boilerplate, names, pii, sensitive) is a small Beam-free object with a ``name`` and a
``find(text) -> list[Replacement]`` method that says which spans of the text *as it is now* to replace.
:class:`EditedText` applies those replacements and keeps the edits in the coordinates of the *raw* input text,
so that ``tuwen text`` can report every change, the pipeline, ``tuwen calibrate`` and ``tuwen text`` call the same
code, and nothing a later step does can hide what an earlier one did:

- offsets are code points into the raw text; edits never overlap;
- a later step's replacement that overlaps earlier edits replaces them with one edit over their union, labelled
  with the later step;
- no step may change a masked run: a replacement that touches the inside of an earlier placeholder
  (``<人名>``, ``<电话>``...: MASK_TOKENS) or ``*`` mask is dropped.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple, Optional, Protocol, Sequence

NAME_TOKEN = "<人名>"
# The pii step's placeholders, one per kind of personal data (transforms/pii.py).
PHONE_TOKEN, ID_TOKEN, EMAIL_TOKEN, CARD_TOKEN, ACCOUNT_TOKEN = "<电话>", "<证件号>", "<邮箱>", "<卡号>", "<账号>"
# What a masking step writes in place of what must never be written; none of it is Chinese text.
MASK_TOKENS = (NAME_TOKEN, PHONE_TOKEN, ID_TOKEN, EMAIL_TOKEN, CARD_TOKEN, ACCOUNT_TOKEN)
MASK_CHAR = "*"
# A URL as captions carry one (the boilerplate step strips it; the pii step masks nothing inside it).
URL_RE = re.compile(r"(?:https?://|ftp://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)

# Every CJK ideograph block (Unified, Extensions A-I, compatibility ideographs) and 〇. Radicals, strokes and
# punctuation are not ideographs.
_IDEOGRAPH_RANGES = (
    "\u3007"
    "\u3400-\u4dbf"
    "\u4e00-\u9fff"
    "\uf900-\ufaff"
    "\U00020000-\U0002a6df"
    "\U0002a700-\U0002ebef"
    "\U0002ebf0-\U0002ee5f"
    "\U0002f800-\U0002fa1f"
    "\U00030000-\U0003134f"
    "\U00031350-\U000323af"
)
IDEOGRAPH_RE = re.compile(f"[{_IDEOGRAPH_RANGES}]")
KANA_RE = re.compile("[\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9d]")
MASK_RUN_RE = re.compile("|".join(map(re.escape, MASK_TOKENS)) + "|" + re.escape(MASK_CHAR) + "+")


class Replacement(NamedTuple):
    """Replace ``text[start:end]`` (coordinates of the text the step was given) with ``replacement``."""

    start: int
    end: int
    replacement: str


@dataclass(frozen=True)
class Edit:
    """One change, in raw-text coordinates: ``raw[start:end] == original`` became ``replacement``."""

    step: str
    start: int
    end: int
    original: str
    replacement: str

    def as_dict(self) -> dict:
        return {"step": self.step, "start": self.start, "end": self.end, "original": self.original,
                "replacement": self.replacement}


class TextStep(Protocol):
    name: str

    def find(self, text: str) -> list[Replacement]:
        ...


def _is_mask(replacement: str) -> bool:
    return any(t in replacement for t in MASK_TOKENS) or (replacement != "" and set(replacement) <= {MASK_CHAR, " "} and
                                         MASK_CHAR in replacement)


def _overlaps(s: int, e: int, cs: int, ce: int) -> bool:
    """Does a replacement of current span [s, e) touch the current region [cs, ce) of an earlier edit?"""
    if s == e and cs == ce:
        return s == cs
    if cs == ce:
        return s < cs < e
    if s == e:
        return cs < s < ce
    return s < ce and cs < e


class EditedText:
    """A raw text, its current cleaned form, and the non-overlapping edits (raw coordinates) between them."""

    __slots__ = ("raw", "text", "edits")

    def __init__(self, raw: str):
        self.raw = raw
        self.text = raw
        self.edits: list[Edit] = []

    def _regions(self) -> list[tuple[int, int]]:
        """Current-text region of each edit, in edit order."""
        out, delta = [], 0
        for ed in self.edits:
            cs = ed.start + delta
            out.append((cs, cs + len(ed.replacement)))
            delta += len(ed.replacement) - (ed.end - ed.start)
        return out

    def _raw_pos(self, pos: int, regions, side: str) -> int:
        delta = 0
        for ed, (cs, ce) in zip(self.edits, regions):
            before = ce < pos or (ce == pos and (cs < ce or side == "start"))
            if not before:
                break
            delta += len(ed.replacement) - (ed.end - ed.start)
        return pos - delta

    def apply(self, step: str, replacements: Iterable[Replacement]) -> None:
        reps = sorted((r for r in replacements if not (r.start == r.end and r.replacement == "")),
                      key=lambda r: (r.start, r.end))
        if not reps:
            return
        text = self.text
        regions = self._regions()
        masked = [i for i, ed in enumerate(self.edits) if _is_mask(ed.replacement)]
        # Drop replacements that would reach inside an earlier mask.
        if masked:
            reps = [r for r in reps if not any(_overlaps(r.start, r.end, *regions[i]) for i in masked)]
        # Groups: [current start, current end, [replacements], {edit indices}], merged where they overlap.
        groups: list[list] = []
        for r in reps:
            s, e = r.start, r.end
            touched = {i for i, (cs, ce) in enumerate(regions) if _overlaps(s, e, cs, ce)}
            for i in touched:
                s, e = min(s, regions[i][0]), max(e, regions[i][1])
            if groups and (s < groups[-1][1] or (s == groups[-1][1] and s == e)):
                g = groups[-1]
                g[1] = max(g[1], e)
                g[2].append(r)
                g[3] |= touched
            else:
                groups.append([s, e, [r], touched])
        new_edits: list[Edit] = []
        consumed: set[int] = set()
        for gs, ge, greps, touched in groups:
            consumed |= touched
            pieces, pos = [], gs
            for r in greps:
                if r.start < pos:  # overlapping replacements inside one step: the earlier one wins
                    continue
                pieces.append(text[pos:r.start])
                pieces.append(r.replacement)
                pos = r.end
            pieces.append(text[pos:ge])
            rs = self._raw_pos(gs, regions, "start")
            re_ = self._raw_pos(ge, regions, "end")
            if touched:
                rs = min(rs, min(self.edits[i].start for i in touched))
                re_ = max(re_, max(self.edits[i].end for i in touched))
            new_edits.append(Edit(step, rs, re_, self.raw[rs:re_], "".join(pieces)))
        kept = [ed for i, ed in enumerate(self.edits) if i not in consumed]
        self.edits = sorted(kept + [ed for ed in new_edits if ed.original != ed.replacement],
                            key=lambda ed: (ed.start, ed.end))
        self.text = self._render()

    def _render(self) -> str:
        out, pos = [], 0
        for ed in self.edits:
            out.append(self.raw[pos:ed.start])
            out.append(ed.replacement)
            pos = ed.end
        out.append(self.raw[pos:])
        return "".join(out)


# ---------------------------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------------------------

_ZERO_WIDTH = "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
# Characters NFKC would change that Chinese text uses as they are: full-width punctuation (，！？：；（）…),
# the ellipsis and the ideographic space's neighbours. Full-width letters and digits are *not* protected.
_PROTECTED = set("…‥") | {chr(c) for c in range(0xFF01, 0xFF66)
                          if not chr(c).isalnum()}
_FAST_OK_RE = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_ZERO_WIDTH}]|\\s\\s|^\\s|\\s$|[^\\S ]")


def _normalize_char(c: str) -> Optional[str]:
    """The replacement for one character, or None to keep it."""
    if c in _ZERO_WIDTH:
        return ""
    if c in _PROTECTED:
        return None
    cat = unicodedata.category(c)
    if cat == "Cc":
        return " " if c in "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85" else ""
    if c.isspace():
        return " " if c != " " else None
    n = unicodedata.normalize("NFKC", c)
    return None if n == c else n


class Normalize:
    """Compatibility and width forms to their plain form (ＡＢ１ → AB1, ﬁ → fi, 兀 compatibility ideographs →
    unified), zero-width and control characters removed, whitespace runs to one space, ends trimmed. Chinese
    punctuation (，！？：；《》…) stays as it is."""

    name = "normalize"

    def find(self, text: str) -> list[Replacement]:
        if unicodedata.is_normalized("NFKC", text) and not _FAST_OK_RE.search(text):
            return []
        reps: list[Replacement] = []
        for i, c in enumerate(text):
            if c < "\x80" and c not in "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x7f" and not ("\x00" <= c < " "):
                continue
            n = _normalize_char(c)
            if n is not None:
                reps.append(Replacement(i, i + 1, n))
        # Whitespace runs and ends, judged on the text with the character replacements applied.
        return _merge_whitespace(text, reps)


def _merge_whitespace(text: str, reps: list[Replacement]) -> list[Replacement]:
    by_pos = {r.start: r for r in reps}
    out: list[Replacement] = []
    i, n = 0, len(text)
    emitted_any = False  # has a non-space character been kept yet?
    while i < n:
        r = by_pos.get(i)
        val = r.replacement if r is not None else text[i]
        if val == " " or (val.isspace() and val != ""):
            j, cur = i, []
            # a run of characters that become whitespace or nothing
            while j < n:
                rj = by_pos.get(j)
                vj = rj.replacement if rj is not None else text[j]
                if vj == "" or vj.isspace():
                    j += 1
                    continue
                break
            at_end = j >= n
            want = "" if (not emitted_any or at_end) else " "
            if text[i:j] != want:
                out.append(Replacement(i, j, want))
            i = j
            continue
        if r is not None:
            out.append(r)
        if val != "":
            emitted_any = True
        i += 1
    return out


# ---------------------------------------------------------------------------------------------------------------
# The basic checks and the cleaner that strings the steps together
# ---------------------------------------------------------------------------------------------------------------

def count_ideographs(text: str) -> int:
    return len(IDEOGRAPH_RE.findall(text))


def has_chinese(text: str) -> bool:
    """At least one CJK ideograph outside masks (``<人名>`` and ``*`` are not Chinese text)."""
    return IDEOGRAPH_RE.search(MASK_RUN_RE.sub("", text)) is not None


def is_japanese(text: str, min_kana: int = 2, min_share: float = 0.2) -> bool:
    """Japanese, not Chinese: at least ``min_kana`` kana making up at least ``min_share`` of the ideographs and
    kana. A single の in a Chinese caption (小明の日常) stays Chinese."""
    kana = len(KANA_RE.findall(text))
    if kana < min_kana:
        return False
    return kana / (kana + count_ideographs(text)) >= min_share


@dataclass
class CleanResult:
    text: str
    edits: list[Edit] = field(default_factory=list)
    dropped: Optional[tuple[str, str]] = None  # (stage, reason)
    detail: str = ""


STEP_ORDER = ("normalize", "boilerplate", "names", "pii", "sensitive")
MAX_TEXT_CHARS = 1000  # a raw text longer than this is dropped as text_too_long (--max-text-chars' default)


class TextCleaner:
    """Runs the text steps in the fixed order normalize → boilerplate → names → pii → sensitive, then the basic checks.

    ``steps`` holds the optional steps by name; normalize always runs. Beam-free: the pipeline's check stage,
    ``tuwen calibrate`` and ``tuwen text`` all call :meth:`clean` (``tuwen text`` through :meth:`clean_many`, blocks
    of lines). The trainer does not: it reads the captions the pipeline already cleaned.
    """

    def __init__(self, steps: Sequence[TextStep] = (), max_chars: int = MAX_TEXT_CHARS, stage: str = "text"):
        by_name = {s.name: s for s in steps}
        unknown = set(by_name) - set(STEP_ORDER)
        if unknown:
            raise ValueError(f"unknown text steps: {sorted(unknown)}")
        by_name.setdefault("normalize", Normalize())
        self.steps = [by_name[n] for n in STEP_ORDER if n in by_name]
        self.max_chars = max_chars
        self.stage = stage

    def clean(self, raw) -> CleanResult:
        return self.clean_many([raw])[0]

    def clean_many(self, raws: Sequence) -> list[CleanResult]:
        """:meth:`clean` of each text, step by step over all of them: a step with ``find_many`` (names) sees the
        whole batch at once. The result for a text never depends on the other texts of the batch."""
        results: list[Optional[CleanResult]] = [None] * len(raws)
        live: list[tuple[int, EditedText]] = []
        for i, raw in enumerate(raws):
            if raw is None or (isinstance(raw, str) and raw.strip() == ""):
                results[i] = CleanResult("", dropped=(self.stage, "empty_text"))
            elif not isinstance(raw, str):
                results[i] = CleanResult("", dropped=(self.stage, "text_not_string"), detail=type(raw).__name__)
            elif len(raw) > self.max_chars:
                results[i] = CleanResult("", dropped=(self.stage, "text_too_long"),
                                         detail=f"{len(raw)} chars > --max-text-chars {self.max_chars}")
            else:
                live.append((i, EditedText(raw)))
        for step in self.steps:
            texts = [et.text for _, et in live]
            many = getattr(step, "find_many", None)
            finds = many(texts) if many is not None else [step.find(t) for t in texts]
            for (_, et), found in zip(live, finds):
                et.apply(step.name, found)
        for i, et in live:
            results[i] = CleanResult(et.text, et.edits, self.check(et.text))
        return results

    def check(self, text: str) -> Optional[tuple[str, str]]:
        if text.strip() == "":
            return (self.stage, "empty_text")
        if not has_chinese(text):
            return (self.stage, "no_chinese")
        if is_japanese(text):
            return (self.stage, "japanese_text")
        return None
