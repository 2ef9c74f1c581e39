"""Boilerplate: find the site furniture that crawled captions carry and strip it.

Crawled captions come wrapped in what the page around the image put there: a site's name as a prefix or suffix
(``美丽的西湖 - 新浪图片``), link labels (``展开全文``, ``查看原网页``), HTML tags and entities, URLs and "via"/"转发"
tails. This module holds

- :class:`StripBoilerplate`, the ``boilerplate`` text step (see :mod:`tuwen.transforms.text`): it deletes the
  fragments it is given (the curated seed list in ``lexicons/boilerplate_seed.txt`` and what was mined), each at
  its position (``prefix``, ``suffix`` or ``anywhere``), and always URLs, HTML tags and HTML entities;
- the miner, which finds fragments that recur across many documents in furniture positions. It works in two
  passes, each a mergeable accumulator (``add`` / ``merge`` / ``extract``) whose memory does not grow with the
  corpus and whose result does not depend on the order or partitioning of the documents:

  1. :class:`DocumentSample` keeps the ``sample_size`` distinct documents with the smallest SHA-1 hashes (a
     bottom-k sample: the same documents whatever the order or the split); the candidates are the fragments
     that recur in the sample;
  2. :class:`CandidateCounter` recounts those candidates exactly over the whole corpus: the number of documents
     carrying each, a bottom-k sketch of the hashes of *what the rest of the document was* (its remainder), and
     the few remainders with the smallest hashes themselves.

  The second count is what tells furniture from repeated content: a site's suffix comes with thousands of
  different captions, while a viral post copied a thousand times comes with one. But a post reposted with each
  reposter's own comment comes with many different remainders too, and so does a reposter's comment under a few
  viral posts: what tells them from furniture is that their remainders tell one story (or a few), while
  furniture's are about unrelated things. So a fragment is boilerplate when it is in at least ``min_doc_count``
  documents, its documents' remainders are at least ``min_distinct_share`` distinct, at most
  ``max_near_copy_share`` of the sampled remainders have a near copy among the others, and it holds no piece
  refused that way (a whole copied post under different comments holds its last sentence). Some fragments are
  never candidates whatever the counts (:func:`is_content_shaped`): no letter or ideograph (a sentence-final
  。 or ！), a hashtag (``#某地大爆炸#``), a repost marker (``//@name:``); and a document counts for a fragment only
  when its remainder has words besides known furniture;
- :func:`mine_boilerplate`, both passes over an in-memory list (for ``tuwen text``; the pipeline runs the same
  accumulators in Beam, :mod:`tuwen.pipeline.boilerplate`);
- :func:`read_tsv` / :func:`write_tsv` for ``boilerplate_mined.tsv`` (``fragment``, ``position``, ``doc_count``).

Beam-free. Hashes come from hashlib, never Python's ``hash()`` (which differs between processes).
"""
from __future__ import annotations

import functools
import hashlib
import heapq
import io
import os
import re
from dataclasses import dataclass
from importlib import resources
from typing import Iterable, Iterator, Optional, Sequence, Union

from tuwen.transforms.text import MASK_RUN_RE, MASK_TOKENS, NAME_TOKEN, URL_RE, Replacement

POSITIONS = ("prefix", "suffix", "anywhere")
TSV_HEADER = ("fragment", "position", "doc_count")


@dataclass(frozen=True, order=True)
class Fragment:
    """A piece of site furniture: ``fragment`` deleted where it stands at ``position``.

    ``doc_count`` is the number of documents of the mined corpus that carried it (0 for curated entries)."""

    fragment: str
    position: str = "anywhere"
    doc_count: int = 0

    def __post_init__(self):
        if self.position not in POSITIONS:
            raise ValueError(f"boilerplate position must be one of {POSITIONS}, not {self.position!r}")
        if not self.fragment:
            raise ValueError("empty boilerplate fragment")


# ---------------------------------------------------------------------------------------------------------------
# What always goes: markup and addresses
# ---------------------------------------------------------------------------------------------------------------

# ASCII tag names only, so that ``<人名>`` (a mask) and Chinese in angle brackets are never taken for a tag.
_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]{0,200})?/?>")
_ENTITY_RE = re.compile(r"&(?:[A-Za-z]{2,8}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
MARKUP_RE = re.compile("|".join(p.pattern for p in (URL_RE, _TAG_RE, _ENTITY_RE)), re.IGNORECASE)

# Where furniture meets content: the separators sites put between a caption and their name. Chinese clause
# punctuation (，。) is not among them: what follows a comma is usually content.
_SEP_CHARS = " \t|｜¦-–—_:：·•»«/\\~～【】[]()（）「」『』"
_SEP_RUN_RE = re.compile("[" + re.escape(_SEP_CHARS) + "]+")
_BRACKETED_RE = re.compile(r"【[^【】]{1,20}】|\[[^\[\]]{1,20}\]")
# "via @someone", "转发自 xxx", "分享自 xxx" tails: the marker and what follows it to the end
_TAIL_RE = re.compile(r"(?:\bvia\b|转发自|转自|分享自)[^\n]{0,40}$", re.IGNORECASE)
# A repost chain's marker, "//@name:": what stands on either side of it is people's words (a comment, the post it
# quotes), never a site's, so no candidate is cut there.
_REPOST_MARK_RE = re.compile(r"//\s*@[^\s/:：@]{1,30}[:：]?")
# A hashtag (#某地大爆炸#) names what a post is about: content, however many posts carry it.
_HASHTAG_RE = re.compile(r"#[^#\s]{1,30}#")


def is_content_shaped(fragment: str) -> bool:
    """Never furniture, whatever the counts: no letter or ideograph (sentence-final 。！, a separator run), a
    hashtag, or a repost marker."""
    return (not _has_words(fragment) or bool(_HASHTAG_RE.search(fragment))
            or bool(_REPOST_MARK_RE.search(fragment)))


def _load_seed() -> list[Fragment]:
    text = resources.files("tuwen.lexicons").joinpath("boilerplate_seed.txt").read_text(encoding="utf-8")
    return list(parse_seed(text))


def parse_seed(text: str) -> Iterator[Fragment]:
    """Lines ``FRAGMENT`` or ``FRAGMENT<TAB>POSITION``; ``#`` starts a comment line."""
    for ln in text.splitlines():
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        parts = ln.rstrip("\n").split("\t")
        frag = parts[0].strip()
        pos = parts[1].strip() if len(parts) > 1 and parts[1].strip() else "anywhere"
        if frag:
            yield Fragment(frag, pos, 0)


def seed_fragments() -> list[Fragment]:
    """The curated list shipped in ``lexicons/boilerplate_seed.txt``."""
    return list(_load_seed())


# ---------------------------------------------------------------------------------------------------------------
# The step
# ---------------------------------------------------------------------------------------------------------------

class StripBoilerplate:
    """The ``boilerplate`` step: delete the given fragments where they stand, and URLs, HTML tags and entities.

    ``fragments``: mined or reviewed :class:`Fragment` objects (or ``(fragment, position)`` pairs, or bare strings,
    read as ``anywhere``). ``use_seed`` adds the curated seed list; ``strip_markup`` the URL/HTML patterns.
    Prefixes and suffixes are stripped repeatedly (``【转】【图】...``), ignoring the whitespace around them.
    """

    name = "boilerplate"

    def __init__(self, fragments: Iterable[Union[Fragment, tuple, str]] = (), use_seed: bool = True,
                 strip_markup: bool = True):
        frags = [_as_fragment(f) for f in fragments]
        if use_seed:
            frags = seed_fragments() + frags
        self.fragments = tuple(dict.fromkeys(frags))
        self.strip_markup = strip_markup
        literal = {p: set() for p in POSITIONS}
        masked = {p: set() for p in POSITIONS}
        for f in self.fragments:
            (masked if MASK_RUN_RE.search(f.fragment) else literal)[f.position].add(f.fragment)
        self._prefixes, self._prefix_lens = literal["prefix"], sorted({len(x) for x in literal["prefix"]}, reverse=True)
        self._suffixes, self._suffix_lens = literal["suffix"], sorted({len(x) for x in literal["suffix"]}, reverse=True)
        # Fragments written to a reviewed list after name/sensitive masking (via @<人名>) match any name there.
        self._masked_prefix_re = _alternation(masked["prefix"])
        self._masked_suffix_re = _alternation(masked["suffix"], r"\Z")
        anywhere = sorted(literal["anywhere"] | masked["anywhere"], key=lambda x: (-len(x), x))
        self._anywhere_re = re.compile("|".join(map(_fragment_pattern, anywhere))) if anywhere else None

    def __getstate__(self):
        return {"fragments": self.fragments, "strip_markup": self.strip_markup}

    def __setstate__(self, state):
        self.__init__(state["fragments"], use_seed=False, strip_markup=state["strip_markup"])

    def find(self, text: str) -> list[Replacement]:
        if not text:
            return []
        spans: list[tuple[int, int]] = []
        if self.strip_markup:
            spans.extend(m.span() for m in MARKUP_RE.finditer(text))
        if self._anywhere_re is not None:
            # the alternation lists longer fragments first, so the longest match at a position wins
            spans.extend(m.span() for m in self._anywhere_re.finditer(text))
        spans.extend(self._ends(text, spans))
        return [Replacement(s, e, "") for s, e in _widen(text, _merge(spans))]

    def _ends(self, text: str, other: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Prefixes at the start and suffixes at the end, peeled off one after another."""
        out: list[tuple[int, int]] = []
        covered = _merge(other)
        start, end = 0, len(text)

        def skip_fwd(i):
            while i < end and (text[i].isspace() or any(s <= i < e for s, e in covered)):
                i += 1
            return i

        def skip_back(j):
            while j > start and (text[j - 1].isspace() or any(s < j <= e for s, e in covered)):
                j -= 1
            return j

        for _ in range(8):
            i = skip_fwd(start)
            hit = next((ln for ln in self._prefix_lens if i + ln <= end and text[i:i + ln] in self._prefixes), None)
            if hit is None and self._masked_prefix_re is not None:
                m = self._masked_prefix_re.match(text, i, end)
                hit = m.end() - i if m and m.end() > i else None
            if hit is None:
                break
            out.append((i, i + hit))
            start = i + hit
        for _ in range(8):
            j = skip_back(end)
            hit = next((ln for ln in self._suffix_lens if j - ln >= start and text[j - ln:j] in self._suffixes), None)
            if hit is None and self._masked_suffix_re is not None:
                m = self._masked_suffix_re.search(text, start, j)
                hit = j - m.start() if m and m.start() < j else None
            if hit is None:
                break
            out.append((j - hit, j))
            end = j - hit
        return out


# What a placeholder in a mined fragment matches in the text the boilerplate step sees (before names and pii ran):
# a name is at most this many characters, a phone number, e-mail address or account at most PII_CHARS.
NAME_CHARS, PII_CHARS = 12, 64


def _fragment_pattern(fragment: str) -> str:
    """A regex for a fragment; a ``<人名>`` in it matches a name (1-NAME_CHARS characters, no space), another
    placeholder (``<电话>``...) personal data (1-PII_CHARS), a run of k ``*`` any k non-space characters — what stood
    there before masking."""
    out, pos = [], 0
    for m in MASK_RUN_RE.finditer(fragment):
        out.append(re.escape(fragment[pos:m.start()]))
        token = m.group(0)
        if token == NAME_TOKEN:
            out.append(r"[^\s<>]{1,%d}?" % NAME_CHARS)
        elif token in MASK_TOKENS:
            out.append(r"[^<>]{1,%d}?" % PII_CHARS)
        else:
            out.append(r"\S{%d}" % len(token))
        pos = m.end()
    out.append(re.escape(fragment[pos:]))
    return "".join(out)


def _alternation(fragments, suffix: str = ""):
    if not fragments:
        return None
    return re.compile("(?:" + "|".join(map(_fragment_pattern, sorted(fragments, key=lambda x: (-len(x), x)))) + ")"
                      + suffix)


def _as_fragment(f) -> Fragment:
    if isinstance(f, Fragment):
        return f
    if isinstance(f, str):
        return Fragment(f, "anywhere", 0)
    f = tuple(f)
    return Fragment(f[0], f[1] if len(f) > 1 else "anywhere", int(f[2]) if len(f) > 2 else 0)


def _widen(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Take the whitespace a deletion would leave behind: at either end of the text, or one of two spaces that
    would meet in the middle."""
    out = []
    n = len(text)
    for s, e in spans:
        if s == 0 or all(c.isspace() for c in text[:s]):
            while e < n and text[e].isspace():
                e += 1
            s = 0 if all(c.isspace() for c in text[:s]) else s
        elif e == n or text[e:].isspace():
            while s > 0 and text[s - 1].isspace():
                s -= 1
            e = n
        elif text[s - 1].isspace() and text[e].isspace():
            e += 1
        out.append((s, e))
    return _merge(out)


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in sorted(spans):
        if s == e:
            continue
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


# ---------------------------------------------------------------------------------------------------------------
# Mining
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MiningThresholds:
    """The miner's options (``mine_boilerplate`` keyword options; ``tuwen run`` has flags for some).

    - ``sample_size``: distinct documents kept by the bottom-k sample that proposes candidates;
    - ``min_sample_count``: sampled documents a fragment must recur in to become a candidate;
    - ``max_candidates``: cap on candidates carried to the recount (the most frequent in the sample);
    - ``min_doc_count``: documents of the whole corpus a fragment must be in;
    - ``min_distinct_share``: share of those documents whose remainder (the document without the fragment) is
      distinct — near 1 for furniture, near 0 for a copied post;
    - ``max_fragment_chars``: longest fragment considered;
    - ``sketch_size``: hashes kept per candidate to count distinct remainders (exact below it, estimated above);
    - ``near_copy_overlap``, ``max_near_copy_share``, ``remainder_sample``, ``remainder_chars``: what tells a
      repost chain from furniture (see their comments).
    """

    sample_size: int = 20000
    min_sample_count: int = 3
    max_candidates: int = 5000
    min_doc_count: int = 10
    min_distinct_share: float = 0.5
    max_fragment_chars: int = 40
    sketch_size: int = 256
    # Guard reposted content: a fragment whose remainders tell one story, or a few, is content, whatever its number
    # of distinct remainders: a viral post's opening (寻人启事：) beside the rest of the post and each reposter's
    # comment, a rumour's first sentence beside its rest, a reposter's comment (转发, 已转) beside the few viral
    # posts it was written under. Most of their remainders have a near copy among the others sampled (Jaccard
    # overlap of letter/ideograph bigrams, @names left out, >= near_copy_overlap); furniture's remainders are
    # about unrelated things and mostly have none (0-0.3 measured, 0.6 on tests' 5-template captions).
    near_copy_overlap: float = 0.6
    max_near_copy_share: float = 0.7
    # Remainders kept per candidate (those with the smallest hashes: mergeable, order-independent) to measure that
    # overlap, each cut to ``remainder_chars`` characters: memory per candidate is bounded.
    remainder_sample: int = 32
    remainder_chars: int = 160

    @classmethod
    def of(cls, **kwargs) -> "MiningThresholds":
        unknown = set(kwargs) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown boilerplate mining option(s): {sorted(unknown)}")
        return cls(**kwargs)


def _h64(s: str) -> int:
    """A 64-bit hash that is the same in every process (hashlib, not hash())."""
    return int.from_bytes(hashlib.sha1(s.encode("utf-8", "surrogatepass")).digest()[:8], "big")


def candidates_in(text: str, max_chars: int = 40) -> set[tuple[str, str]]:
    """Every ``(fragment, position)`` of ``text`` that could be furniture.

    Prefixes and suffixes end (start) at a separator run (``" - "``, ``" | "``, ``【】``...) and leave some text;
    bracketed labels (``【图】``) anywhere; URLs, HTML tags and entities anywhere; via/转发 tails as suffixes.
    """
    out: set[tuple[str, str]] = set()
    for m in MARKUP_RE.finditer(text):
        if len(m.group(0)) <= max_chars * 3:
            out.add((m.group(0), "anywhere"))
    text = demarkup(text)
    n = len(text)
    if n == 0:
        return out
    marks = [m.span() for m in _REPOST_MARK_RE.finditer(text)]
    seps = [(s, e) for s, e in (m.span() for m in _SEP_RUN_RE.finditer(text))
            if not any(s <= me and e >= ms for ms, me in marks)]  # never cut at a repost marker
    # prefix: text[:e] for the first few separator runs ending at e, when it holds non-separator characters and
    # leaves some text after it
    for s, e in seps[:4]:
        if e > max_chars:
            break
        frag = text[:e].strip()
        rest = text[e:].strip()
        if frag and rest and _SEP_RUN_RE.sub("", frag):
            out.add((frag, "prefix"))
    for s, e in seps[-4:]:
        if n - s > max_chars:
            continue
        frag = text[s:].strip()
        rest = text[:s].strip()
        if frag and rest and _SEP_RUN_RE.sub("", frag):
            out.add((frag, "suffix"))
    m = _TAIL_RE.search(text)
    if m and m.start() > 0 and len(m.group(0).strip()) <= max_chars:
        out.add((m.group(0).strip(), "suffix"))
    for m in _BRACKETED_RE.finditer(text):
        out.add((m.group(0), "anywhere"))
    return {c for c in out if not is_content_shaped(c[0])}


_SPACES_RE = re.compile(r"\s+")


def demarkup(text: str) -> str:
    """The text as the prefix/suffix rules see it: markup (always stripped) gone, whitespace runs to one space."""
    if "<" in text or "&" in text or "://" in text or "www." in text.lower():
        text = MARKUP_RE.sub("", text)  # deleted, as the step deletes it
    return _SPACES_RE.sub(" ", text).strip()


def remainder(text: str, fragment: str, position: str) -> Optional[str]:
    """``text`` without ``fragment`` at ``position`` (stripped), or None when the fragment is not there."""
    t = demarkup(text) if position != "anywhere" else text.strip()
    if position == "prefix":
        return t[len(fragment):].strip() if t.startswith(fragment) else None
    if position == "suffix":
        return t[:-len(fragment)].strip() if t.endswith(fragment) else None
    return t.replace(fragment, "\u0000").strip() if fragment in t else None


class DocumentSample:
    """Pass 1: a bottom-k sample of distinct documents by SHA-1 (mergeable, order- and partition-independent)."""

    __slots__ = ("size", "_heap", "_keys")

    def __init__(self, size: int):
        self.size = size
        self._heap: list[tuple[int, str]] = []  # max-heap by hash: (-hash, text)
        self._keys: set[int] = set()

    def add(self, text: str) -> "DocumentSample":
        if not isinstance(text, str) or not text.strip():
            return self
        h = _h64(text)
        if h in self._keys:
            return self
        if len(self._heap) < self.size:
            heapq.heappush(self._heap, (-h, text))
            self._keys.add(h)
        elif h < -self._heap[0][0]:
            _, old = heapq.heapreplace(self._heap, (-h, text))
            self._keys.discard(_h64(old))
            self._keys.add(h)
        return self

    def merge(self, other: "DocumentSample") -> "DocumentSample":
        for neg, text in other._heap:
            self.add(text)
        return self

    def texts(self) -> list[str]:
        """The sampled documents, in hash order (so the result never depends on insertion order)."""
        return [t for _, t in sorted(self._heap, key=lambda x: -x[0])]

    def extract(self, th: "MiningThresholds") -> list[tuple[str, str]]:
        """The candidates this sample proposes (see :func:`propose_candidates`)."""
        return propose_candidates(self.texts(), th)

    def __len__(self):
        return len(self._heap)


def propose_candidates(sample_texts: Sequence[str], th: MiningThresholds) -> list[tuple[str, str]]:
    """Candidates recurring in at least ``min_sample_count`` sampled documents, most frequent first (capped)."""
    counts: dict[tuple[str, str], int] = {}
    for t in sample_texts:
        for c in candidates_in(t, th.max_fragment_chars):
            counts[c] = counts.get(c, 0) + 1
    keep = [c for c, n in counts.items() if n >= th.min_sample_count]
    keep.sort(key=lambda c: (-counts[c], c))
    return sorted(keep[:th.max_candidates])


class CandidateCounter:
    """Pass 2: exact document counts of the candidates, and a bottom-k sketch of their remainders' hashes.

    Memory: per candidate one count, at most ``sketch_size`` hashes and ``remainder_sample`` remainders of at most
    ``remainder_chars`` characters, whatever the corpus size."""

    __slots__ = ("candidates", "sketch_size", "remainder_sample", "remainder_chars", "counts", "sketches",
                 "remainders", "_matcher")

    def __init__(self, candidates: Sequence[tuple[str, str]], sketch_size: int = 256,
                 remainder_sample: int = MiningThresholds.remainder_sample,
                 remainder_chars: int = MiningThresholds.remainder_chars):
        self.candidates = tuple(sorted({(f, p) for f, p in candidates}))
        self.sketch_size = sketch_size
        self.remainder_sample = remainder_sample
        self.remainder_chars = remainder_chars
        self.counts: dict[tuple[str, str], int] = {}
        self.sketches: dict[tuple[str, str], list[int]] = {}
        # per candidate the remainder_sample (hash, remainder) pairs with the smallest hashes
        self.remainders: dict[tuple[str, str], list[tuple[int, str]]] = {}
        self._matcher = None

    @classmethod
    def for_thresholds(cls, candidates: Sequence[tuple[str, str]], th: "MiningThresholds") -> "CandidateCounter":
        return cls(candidates, th.sketch_size, th.remainder_sample, th.remainder_chars)

    def _candidates_of(self, text: str) -> list[tuple[str, str]]:
        if self._matcher is None:
            self._matcher = _CandidateMatcher(self.candidates)
        return self._matcher.match(text)

    def hits(self, text: str) -> list[tuple[tuple[str, str], int, str]]:
        """``(candidate, hash of the remainder, the remainder cut to remainder_chars)`` for each candidate
        ``text`` carries."""
        if not isinstance(text, str) or not text.strip():
            return []
        out = []
        for cand in self._candidates_of(text):
            rest = remainder(text, *cand)
            if not _has_words(_seed_re().sub("", rest)):
                # the fragment is all the words of the document but known furniture (网页链接, 来自iPhone客户端):
                # nothing tells furniture from content
                continue
            out.append((cand, _h64(rest), demarkup(rest)[:self.remainder_chars]))
        return out

    def add_hits(self, hits: Iterable[tuple[tuple[str, str], int, str]]) -> "CandidateCounter":
        for cand, h, rest in hits:
            cand = tuple(cand)
            self.counts[cand] = self.counts.get(cand, 0) + 1
            self._sketch_add(cand, [h])
            self._remainders_add(cand, [(h, rest)])
        return self

    def _remainders_add(self, cand, pairs: Iterable[tuple[int, str]]) -> None:
        old = self.remainders.get(cand, [])
        pairs = list(pairs)
        if len(old) >= self.remainder_sample and all(h > old[-1][0] for h, _ in pairs):
            return  # (the common case once the sample is full: nothing smaller)
        kept = dict(old)
        kept.update(pairs)
        self.remainders[cand] = sorted(kept.items())[: self.remainder_sample]

    def near_copy_share(self, cand, near: float = MiningThresholds.near_copy_overlap) -> float:
        """The share of the sampled remainders whose letter/ideograph bigrams overlap another's by at least
        ``near`` (Jaccard; 0 below two remainders): low beside unrelated texts (furniture), high beside one
        story's or a few stories' words (a repost chain)."""
        grams = [_bigrams(r) for _, r in self.remainders.get(cand, ())]
        grams = [g for g in grams if g]
        if len(grams) < 2:
            return 0.0
        has_copy = [False] * len(grams)
        for i in range(len(grams)):
            for j in range(i + 1, len(grams)):
                if (not has_copy[i] or not has_copy[j]) and len(grams[i] & grams[j]) >= near * len(grams[i] | grams[j]):
                    has_copy[i] = has_copy[j] = True
        return sum(has_copy) / len(grams)

    def is_story(self, cand, th: MiningThresholds) -> bool:
        """Whether ``cand``'s remainders tell a story, or a few (see :class:`MiningThresholds`)."""
        return self.near_copy_share(cand, th.near_copy_overlap) > th.max_near_copy_share

    def add(self, text: str) -> "CandidateCounter":
        return self.add_hits(self.hits(text))

    def _sketch_add(self, cand, hashes: Iterable[int]) -> None:
        sk = self.sketches.setdefault(cand, [])
        hashes = list(hashes)
        if len(sk) >= self.sketch_size and all(h > sk[-1] for h in hashes):
            return  # (the common case once the sketch is full: nothing smaller)
        merged = sorted(set(sk).union(hashes))[: self.sketch_size]
        self.sketches[cand] = merged

    def merge(self, other: "CandidateCounter") -> "CandidateCounter":
        for cand, n in other.counts.items():
            self.counts[cand] = self.counts.get(cand, 0) + n
            self._sketch_add(cand, other.sketches.get(cand, ()))
            self._remainders_add(cand, other.remainders.get(cand, ()))
        return self

    def distinct_remainders(self, cand) -> float:
        """Distinct remainders: exact below ``sketch_size``, else the bottom-k (KMV) estimate."""
        sk = self.sketches.get(cand, [])
        if len(sk) < self.sketch_size:
            return float(len(sk))
        kth = sk[-1] + 1
        return (self.sketch_size - 1) * (2 ** 64) / kth

    def fragments(self, th: MiningThresholds) -> list[Fragment]:
        out, story = [], set()
        for cand, n in self.counts.items():
            if n < th.min_doc_count:
                continue
            if min(self.distinct_remainders(cand), n) / n < th.min_distinct_share:
                continue
            if self.is_story(cand, th):
                story.add(cand[0])
                continue
            out.append(Fragment(cand[0], cand[1], n))
        # a fragment holding a piece of a story holds content: the whole of a copied post under different comments
        # (its remainders are only the comments) holds its last sentence (whose remainders share the rest)
        out = [f for f in out if not any(s in f.fragment for s in story)]
        return sort_fragments(_drop_covered(out))

    extract = fragments

    def __getstate__(self):
        return {"candidates": self.candidates, "sketch_size": self.sketch_size, "counts": self.counts,
                "sketches": self.sketches, "remainder_sample": self.remainder_sample,
                "remainder_chars": self.remainder_chars, "remainders": self.remainders}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)
        self._matcher = None


_MENTION_RE = re.compile(r"@[^\s/:：@，,。！!？?]{1,30}")


def _bigrams(text: str) -> set[str]:
    """Pairs of adjacent letters or ideographs: the words a text is about, punctuation, digits and the @names of
    a repost chain (who passed it on, not what it says) left out."""
    text = _MENTION_RE.sub(" ", text)
    return {text[i:i + 2] for i in range(len(text) - 1) if text[i].isalpha() and text[i + 1].isalpha()}


@functools.lru_cache(maxsize=None)
def _seed_re() -> re.Pattern:
    """The seed list's fragments and markup, wherever they stand: what is known furniture in a remainder."""
    frags = sorted({f.fragment for f in seed_fragments()}, key=lambda x: (-len(x), x))
    return re.compile("|".join([MARKUP_RE.pattern] + [re.escape(f) for f in frags]), re.IGNORECASE)


def _has_words(text: str) -> bool:
    return any(c.isalpha() for c in text)


class _CandidateMatcher:
    """Which candidates a text carries: prefixes/suffixes by dictionary lookup, the rest by one regex."""

    def __init__(self, candidates: Sequence[tuple[str, str]]):
        self.prefixes = {f for f, p in candidates if p == "prefix"}
        self.suffixes = {f for f, p in candidates if p == "suffix"}
        self.pre_lens = sorted({len(f) for f in self.prefixes})
        self.suf_lens = sorted({len(f) for f in self.suffixes})
        anywhere = sorted({f for f, p in candidates if p == "anywhere"}, key=lambda s: (-len(s), s))
        self.anywhere = set(anywhere)
        self.any_re = re.compile("|".join(re.escape(f) for f in anywhere)) if anywhere else None

    def match(self, text: str) -> list[tuple[str, str]]:
        t = demarkup(text)
        out = []
        for ln in self.pre_lens:
            if ln < len(t) and t[:ln] in self.prefixes:
                out.append((t[:ln], "prefix"))
        for ln in self.suf_lens:
            if ln < len(t) and t[-ln:] in self.suffixes:
                out.append((t[-ln:], "suffix"))
        t = text.strip()
        if self.any_re is not None:
            # overlapping occurrences of different candidates: test each candidate found by the regex, plus any
            # candidate contained in a found one
            found = {m.group(0) for m in self.any_re.finditer(t)}
            for f in sorted(found):
                out.append((f, "anywhere"))
            for f in self.anywhere - found:
                if any(f in g for g in found) and f in t:
                    out.append((f, "anywhere"))
        return out


def _drop_covered(frags: list[Fragment]) -> list[Fragment]:
    """Of a prefix and a longer prefix that starts with it (or suffixes likewise) seen in as many documents, keep
    the longer one: ``新浪 -`` and ``新浪 - 图片`` from the same pages are one piece of furniture. A bracketed
    label found anywhere that (nearly) always stands at the start or the end is kept as that prefix or suffix."""
    positional = {}
    for f in frags:
        if f.position != "anywhere":
            positional[f.fragment] = max(positional.get(f.fragment, 0), f.doc_count)
    frags = [f for f in frags if not (f.position == "anywhere" and positional.get(f.fragment, 0) >= 0.9 * f.doc_count)]
    by_pos: dict[str, list[Fragment]] = {}
    for f in frags:
        by_pos.setdefault(f.position, []).append(f)
    # A longer fragment that is a shorter one plus more, seen on far fewer documents, is the furniture plus a
    # piece of content or of other furniture (（1） - 新浪图片): the shorter one covers it.
    for pos in ("prefix", "suffix"):
        fs = by_pos.get(pos, [])
        by_pos[pos] = [g for g in fs if not any(
            len(f.fragment) < len(g.fragment) and f.doc_count >= 2 * g.doc_count and (
                g.fragment.startswith(f.fragment) if pos == "prefix" else g.fragment.endswith(f.fragment))
            for f in fs)]
    out = []
    for pos, fs in by_pos.items():
        for f in fs:
            covered = any(
                g is not f and len(g.fragment) > len(f.fragment) and g.doc_count >= f.doc_count * 0.9 and (
                    (pos == "prefix" and g.fragment.startswith(f.fragment)) or
                    (pos == "suffix" and g.fragment.endswith(f.fragment)) or
                    (pos == "anywhere" and f.fragment in g.fragment))
                for g in fs)
            if not covered:
                out.append(f)
    return out


def sort_fragments(frags: Iterable[Fragment]) -> list[Fragment]:
    """Most documents first, then position and text: a stable order for the TSV."""
    return sorted(frags, key=lambda f: (-f.doc_count, f.position, f.fragment))


def mine_boilerplate(texts: Iterable[str], thresholds: Optional[MiningThresholds] = None,
                     **options) -> list[Fragment]:
    """Both passes over ``texts`` (iterated twice; a list is best). ``thresholds``, or keyword options of
    :class:`MiningThresholds` (the rest at their defaults)."""
    th = thresholds or MiningThresholds.of(**options)
    texts = texts if isinstance(texts, (list, tuple)) else list(texts)
    sample = DocumentSample(th.sample_size)
    for t in texts:
        sample.add(t)
    counter = CandidateCounter.for_thresholds(propose_candidates(sample.texts(), th), th)
    for t in texts:
        counter.add(t)
    return counter.fragments(th)


# ---------------------------------------------------------------------------------------------------------------
# boilerplate_mined.tsv
# ---------------------------------------------------------------------------------------------------------------

def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _unescape(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}.get(s[i + 1], s[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def write_tsv(path_or_file, fragments: Iterable[Union[Fragment, tuple]]) -> None:
    """Write ``fragment<TAB>position<TAB>doc_count`` with a header line.

    The caller hands in fragments already cleaned of names and sensitive words (a fragment is text of the corpus
    and must not carry a removed original into the output); tabs and newlines are escaped as ``\\t`` ``\\n``."""
    frags = [_as_fragment(f) for f in fragments]
    lines = ["\t".join(TSV_HEADER)] + [f"{_escape(f.fragment)}\t{f.position}\t{f.doc_count}" for f in frags]
    data = "\n".join(lines) + "\n"
    if hasattr(path_or_file, "write"):
        path_or_file.write(data)
        return
    with open(os.fspath(path_or_file), "w", encoding="utf-8", newline="\n") as f:
        f.write(data)


def read_tsv(path_or_file) -> list[Fragment]:
    """Read a ``boilerplate_mined.tsv`` (or a reviewed copy): header line, then fragment, position, doc_count."""
    if hasattr(path_or_file, "read"):
        text = path_or_file.read()
    else:
        with open(os.fspath(path_or_file), encoding="utf-8") as f:
            text = f.read()
    out = []
    for lineno, ln in enumerate(io.StringIO(text), 1):
        ln = ln.rstrip("\n").rstrip("\r")
        if not ln.strip() or ln.startswith("#"):
            continue
        cols = ln.split("\t")
        if lineno == 1 and tuple(c.strip() for c in cols[:3]) == TSV_HEADER:
            continue
        if len(cols) < 2:
            raise ValueError(f"boilerplate list line {lineno}: expected fragment<TAB>position[<TAB>doc_count]")
        count = int(cols[2]) if len(cols) > 2 and cols[2].strip() else 0
        out.append(Fragment(_unescape(cols[0]), cols[1].strip(), count))
    return out


# The names ``tuwen text`` looks for.
read_boilerplate_tsv = read_tsv
read_fragments_tsv = read_tsv
