"""Transliterated foreign names (克林顿, 斯特罗耶夫, 约翰·克里, 科菲·安南), told apart from transliterated place
names (俄罗斯, 阿根廷) by jieba's dictionary tags, and the parts of a name joined by a middle dot.
"""
from __future__ import annotations

from typing import Optional

from tuwen.transforms.names.context import Context
from tuwen.transforms.names.edges import place_follows
from tuwen.transforms.names.knowledge import Knowledge
from tuwen.transforms.names.lexicons import EDGE_FUNCTION_TAGS, JOINERS, PERSON_TAGS, SAYING
from tuwen.transforms.names.thresholds import FREQ_TRANSLIT_IN_CONTEXT, FREQ_TRANSLIT_RARE, TRANSLIT_SCORE
from tuwen.transforms.text import IDEOGRAPH_RE


def transliterated(kb: Knowledge, ctx: Context, found: set) -> None:
    """Every run of transliteration characters (joiners inside), judged by :func:`judge_translit_run`; then the
    foreign words whose characters are not all on the list (:func:`unknown_foreign_words`)."""
    lex, text = kb.lex, ctx.text
    tc = lex.translit_chars
    n = len(text)
    i = 0
    while i < n:
        if text[i] not in tc:
            i += 1
            continue
        j = i
        while j < n and (text[j] in tc or (text[j] in JOINERS and j + 1 < n and text[j + 1] in tc and j > i)):
            j += 1
        judge_translit_run(kb, ctx, i, j, found)
        i = j
    unknown_foreign_words(kb, ctx, found)


def unknown_foreign_words(kb: Knowledge, ctx: Context, found: set) -> None:
    """Foreign names whose characters are not all in the transliteration list: a word jieba does not know, of
    three or more characters that read as a transliteration (别尔科娃); and two such words, or name words,
    joined by a middle dot, which Chinese writes only inside foreign names (差瓦立·永猜裕)."""
    lex, model, words = kb.lex, kb.model, ctx.words
    for k, w in enumerate(words):
        t = ctx.tag(k)
        end = ctx.starts[k] + len(w)
        if t is None and len(w) >= 3 and w not in lex.not_person and \
                all(IDEOGRAPH_RE.match(c) and c not in lex.given_stopchars for c in w) and \
                sum(c in lex.translit_chars for c in w) >= len(w) - 1 and \
                model.translit_score(w) >= TRANSLIT_SCORE and not place_follows(ctx, end):
            found.add((ctx.starts[k], end))
        if w in JOINERS and len(w) == 1 and 0 < k < len(words) - 1:
            left, right = words[k - 1], words[k + 1]
            # an initial before the dot (拉·甘地, 塞·威廉姆斯): one character starting its own word, a foreign
            # surname after it (a name part, or a word jieba does not know, or rare)
            if len(left) == 1 and left in lex.translit_chars and 2 <= len(right) <= 6 and \
                    all(IDEOGRAPH_RE.match(c) for c in right) and right not in lex.not_person and \
                    ctx.tags.get(right) not in ("ns", "nt") and (k < 2 or not IDEOGRAPH_RE.match(words[k - 2][-1])
                                                               or len(words[k - 2]) >= 2):
                end = ctx.starts[k + 1] + len(right)
                if not place_follows(ctx, end):
                    found.add((ctx.starts[k - 1], end))
            if all(2 <= len(x) <= 6 and all(IDEOGRAPH_RE.match(c) for c in x) and x not in lex.not_person and
                   ctx.tags.get(x) in (None, *PERSON_TAGS) for x in (left, right)):
                found.add((ctx.starts[k - 1], ctx.starts[k + 1] + len(right)))


def judge_translit_run(kb: Knowledge, ctx: Context, a: int, b: int, found: set) -> None:
    lex = kb.lex
    # Shrink to word boundaries: a word that crosses the run's edge is an ordinary word (德国, 加拿大).
    ks = ctx.words_in(a, b)
    if not ks:
        return
    # Drop ordinary dictionary words (places, nouns...) at the edges of the run.
    def ordinary(k):
        t = ctx.tag(k)
        w = ctx.words[k]
        return w in lex.not_person or (t is not None and t not in PERSON_TAGS and (len(w) >= 2 or t == "ns")) or \
            len(w) == 1 and t in EDGE_FUNCTION_TAGS  # 克瓦希涅夫斯基/于: a preposition, not the name's end
    # A title before it or a verb of saying after it (教练扎加洛, 外长哈洛宁说): jieba's dictionary tags many
    # rare transliterated names as places or proper nouns (ns, nz); with such context, a run of rare words
    # of those tags is a name.
    if len(ks) <= 3 and ctx.context(ks[0], ks[-1]):
        run = ctx.text[ctx.starts[ks[0]]:ctx.starts[ks[-1]] + len(ctx.words[ks[-1]])]
        if len(run) >= 2 and run not in lex.not_person and all(
                ctx.words[k] not in lex.not_person and IDEOGRAPH_RE.match(ctx.words[k][0]) and
                (ctx.tag(k) in (None, "ns", "nz", *PERSON_TAGS)) and ctx.freq(k) <= FREQ_TRANSLIT_IN_CONTEXT
                for k in ks):
            found.add((ctx.starts[ks[0]], ctx.starts[ks[-1]] + len(ctx.words[ks[-1]])))
            return
    while ks and (ordinary(ks[0]) or ctx.words[ks[0]] in JOINERS):
        ks = ks[1:]
    while ks and (ordinary(ks[-1]) or ctx.words[ks[-1]] in JOINERS):
        ks = ks[:-1]
    if not ks:
        return
    a, b = ctx.starts[ks[0]], ctx.starts[ks[-1]] + len(ctx.words[ks[-1]])
    run = ctx.text[a:b]
    if place_follows(ctx, b):
        return  # 丘布特省, 休斯公司: a place or an organisation
    letters = sum(1 for c in run if c not in JOINERS)
    joined = any(c in JOINERS for c in run)
    inner_tags = [ctx.tag(k) for k in ks]
    person = any(t in PERSON_TAGS for t in inner_tags)
    unknown = any(t is None for t in inner_tags)
    if run in lex.not_person or any(run[i:i + ln] in lex.not_person
                                    for ln in range(2, min(len(run), 8) + 1) for i in range(len(run) - ln + 1)):
        return
    if joined and letters >= 3:
        found.add((a, b))
        return
    if len(ks) == 1 and inner_tags[0] == "nrt" and letters >= 2:
        found.add((a, b))  # jieba's dictionary knows it as a transliterated person name
        return
    if letters >= 3 and ctx.context(ks[0], ks[-1]):
        found.add((a, b))
        return
    if letters >= 3 and (person or unknown):
        # every word of the run a name part, unknown to jieba, or a single character
        if all(t in PERSON_TAGS or t is None or len(ctx.words[k]) == 1 for k, t in zip(ks, inner_tags)):
            found.add((a, b))
            return
    # Three or more characters that read like a transliterated name (by jieba's list of them), each word of
    # the run rare in jieba's dictionary: a foreign name jieba tagged a place or proper noun (穆勒, 西卡鲁利泽).
    if letters >= 3 and kb.model.translit_score(run) >= TRANSLIT_SCORE and all(
            ctx.freq(k) <= FREQ_TRANSLIT_RARE and
            (t is None or t in PERSON_TAGS or t in ("ns", "nz") or len(ctx.words[k]) == 1)
            for k, t in zip(ks, inner_tags)):
        found.add((a, b))
        return
    if letters == 2 and len(ks) == 1 and inner_tags[0] in ("nrt", "nr", None) and ctx.context(ks[0], ks[-1]):
        found.add((a, b))


def across_joiners(kb: Knowledge, ctx: Context, found: set) -> None:
    """约翰·克里: a name part next to a · takes in the part on the other side (unless that is an ordinary word)."""
    text = ctx.text
    if not any(j in text for j in JOINERS):
        return
    for _ in range(3):
        changed = False
        for s, e in sorted(found):
            for side in (-1, 1):
                j = s - 1 if side < 0 else e
                if not (0 <= j < len(text)) or text[j] not in JOINERS:
                    continue
                k = ctx.word_containing(j + side)
                if not (0 <= j + side < len(text)) or not IDEOGRAPH_RE.match(text[j + side]):
                    continue
                span = name_part(kb, ctx, k, side)
                if span is None:
                    continue
                new = (min(s, span[0]), max(e, span[1]))
                if new != (s, e) and new not in found:
                    found.discard((s, e))
                    found.add(new)
                    changed = True
                    break
        if not changed:
            break


def name_part(kb: Knowledge, ctx: Context, k: int, side: int) -> Optional[tuple[int, int]]:
    """Words from ``k`` going away from a joiner that can be part of a foreign name (up to 8 characters)."""
    lex = kb.lex
    ks = []
    total = 0
    while 0 <= k < len(ctx.words):
        w, t = ctx.words[k], ctx.tag(k)
        if not all(IDEOGRAPH_RE.match(c) for c in w) or w in lex.not_person or w in SAYING or \
                w in lex.context_after:
            break  # (莉萨·科斯马斯/说: a verb of saying ends the name)
        if t is not None and t not in PERSON_TAGS and not all(c in lex.translit_chars for c in w):
            break
        ks.append(k)
        total += len(w)
        if total >= 4:
            break
        k += side
    if not ks:
        return None
    a, b = min(ks), max(ks)
    return ctx.starts[a], ctx.starts[b] + len(ctx.words[b])
