"""Well-known people written in ways the other rules refuse (庄子, 李白, 释迦牟尼): ``lexicons/name_famous.txt``.
"""
from __future__ import annotations

from tuwen.transforms.names.context import Context
from tuwen.transforms.names.edges import place_follows
from tuwen.transforms.names.knowledge import Knowledge


def famous(kb: Knowledge, ctx: Context, found: set) -> None:
    """Well-known people (lexicons/name_famous.txt: 庄子, 李白, 释迦牟尼), where the entry is one or more whole
    words of jieba's cut, or starts a word whose rest is a title (慈禧/太后)."""
    lex, text, words, starts = kb.lex, ctx.text, ctx.words, ctx.starts
    famous, longest, heads = lex.famous, lex.famous_max, lex.famous_heads
    for k, w in enumerate(words):
        s = starts[k]
        if text[s:s + 2] in heads:
            e = s
            for j in range(k, len(words)):
                e += len(words[j])
                if e - s > longest:
                    break
                if text[s:e] in famous and not place_follows(ctx, e):
                    found.add((s, e))  # (not 孔子/学院: an organisation named after the person)
        # at the head of a longer word whose rest is a title: 慈禧/太后 (not 西施/犬, 斯大林/格勒)
        if len(w) >= 3 and w[:2] in heads:
            for ln in range(2, min(len(w) - 1, longest) + 1):
                if w[:ln] in famous and w[ln:] in lex.titles_after:
                    found.add((s, s + ln))
