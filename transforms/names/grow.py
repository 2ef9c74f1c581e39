"""Passes that grow what was found: a cut-off last character (李铁/辰), the other items of a list of names
(柳大华、徐天红、高华), the name across 和/与 from a name (刘斌和蔡菁).
"""
from __future__ import annotations

from typing import Optional

from tuwen.transforms.names.context import Context
from tuwen.transforms.names.knowledge import Knowledge
from tuwen.transforms.names.lexicons import BOUNDARY_AFTER, JOINING, PERSON_TAGS
from tuwen.transforms.names.thresholds import FREQ_CONJOINED_RARE, GIVEN_BESIDE_NAME, GIVEN_LAST_CHAR, SCORE_CONJOINED
from tuwen.transforms.text import IDEOGRAPH_RE


def extend_split_names(kb: Knowledge, ctx: Context, found: set) -> None:
    """李铁/辰 校长, 赵国/钧 少将: jieba cut the last given-name character off a name found as two characters."""
    lex = kb.lex
    for s, e in list(found):
        if e - s != 2 or kb.surname_of(ctx.text[s:e] + "x") is None:
            continue
        k = ctx.index_at(s)
        if k is None or len(ctx.words[k]) != 2 or k + 1 >= len(ctx.words):
            continue
        c = ctx.words[k + 1]
        if len(c) != 1 or not kb.given_ok(c) or kb.scores.get(c, 0.0) < GIVEN_LAST_CHAR or \
                c in BOUNDARY_AFTER or c in JOINING:
            continue  # (not 李白/和: a conjunction, though 和 is also a given-name character)
        after = ctx.words[k + 2] if k + 2 < len(ctx.words) else ""
        if after == "" or not IDEOGRAPH_RE.match(after[:1]) or after in lex.titles_after or \
                after in lex.context_after or (len(after) >= 2 and ctx.tag(k + 2) is not None):
            found.discard((s, e))
            found.add((s, e + 1))


def enumerations(kb: Knowledge, ctx: Context, found: set) -> None:
    """柳大华、徐天红、高华: an item of a list of names is a name when it has a name's shape."""
    text, lex = ctx.text, kb.lex
    if "、" not in text:
        return
    masked = set()
    for s, e in found:
        masked.update(range(s, e))
    for _ in range(2):
        changed = False
        for p, ch in enumerate(text):
            if ch != "、":
                continue
            left, right = list_item(ctx, p, -1), list_item(ctx, p + 1, +1)
            for here, there in ((left, right), (right, left)):
                if here is None or there is None:
                    continue
                hs, he = here
                ts, te = there
                if all(i in masked for i in range(ts, te)) and not any(i in masked for i in range(hs, he)):
                    item = text[hs:he]
                    sur = kb.name_shape(item)
                    if sur is not None and sur not in lex.function_surnames and \
                            kb.given_score(item[len(sur):]) >= GIVEN_BESIDE_NAME and item not in lex.not_person:
                        found.add((hs, he))
                        masked.update(range(hs, he))
                        changed = True
        if not changed:
            break


def conjoined(kb: Knowledge, ctx: Context, found: set) -> None:
    """刘斌和蔡菁: the word on the other side of 和/与/及 from a name is a name when it has a name's shape and
    jieba does not know it as an ordinary word."""
    lex = kb.lex
    words = ctx.words
    for s, e in sorted(found):
        for side in (-1, 1):
            k = ctx.index_at(e) if side > 0 else ctx.word_containing(s - 1) if s > 0 else None
            if k is None or words[k] not in ("和", "与", "及", "同", "跟"):
                continue
            j = k + side
            if not 0 <= j < len(words):
                continue
            w, t = words[j], ctx.tag(j)
            if not 2 <= len(w) <= 4 or w in lex.not_person:
                continue
            sur = kb.name_shape(w)
            if sur is None or sur in lex.function_surnames or \
                    kb.given_score(w[len(sur):], mean=True) < GIVEN_BESIDE_NAME:
                continue
            if t is not None and t not in PERSON_TAGS and not (
                    ctx.freq(j) <= FREQ_CONJOINED_RARE and kb.model.score(sur, w[len(sur):]) >= SCORE_CONJOINED):
                continue  # an ordinary word, unless rare and with a name's characters (严良和李培智)
            found.add((ctx.starts[j], ctx.starts[j] + len(w)))


def list_item(ctx: Context, pos: int, direction: int) -> Optional[tuple[int, int]]:
    """The 2-4 ideographs next to a list separator at ``pos`` (going left for -1), ending at a separator."""
    text = ctx.text
    if direction < 0:
        e = pos
        s = e
        while s > 0 and IDEOGRAPH_RE.match(text[s - 1]) and e - s < 5:
            s -= 1
    else:
        s = pos
        e = s
        while e < len(text) and IDEOGRAPH_RE.match(text[e]) and e - s < 5:
            e += 1
    if not 2 <= e - s <= 4:
        return None
    # the item must be bounded by a separator or punctuation on its far side
    far = text[s - 1] if direction < 0 and s > 0 else (text[e] if direction > 0 and e < len(text) else "")
    if far and IDEOGRAPH_RE.match(far):
        return None
    return (s, e)
