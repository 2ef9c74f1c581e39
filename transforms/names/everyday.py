"""Spans that read as everyday words, whatever the rules and the character model say: the last pass of the step.

Both kinds of evidence learnt names from news, where a surname character starting a span is a surname. In other
registers (photo captions above all) the same characters are verbs and adjectives that take an object: 张着嘴,
戴手链, 滑旱冰, 黄狗; and transliterations there name breeds and brands (杜宾犬, 布朗狗, 凯蒂猫). What tells them
apart is grammar that jieba's dictionary can read, not a list of caption words:

- a verb and its aspect particle (张着, 戴着): a character and 着/了 is never a name;
- a verb and its object (拉/马车, 戴/手链, 滑/旱冰): the first character is an everyday verb on its own, and the
  rest is a common noun of two or more characters in the dictionary (a given name is almost never one; 云江, 国华
  are place or brand words, not common nouns; after an adjective-surname, 黄/白/高, it may be one), unless the name
  model scores surname and given name as a likely name;
- a colour or size and a one-character noun (黄/狗, 白/雪, 黄/衣): the first character is one of the most frequent
  adjectives on its own and the rest a frequent noun;
- a transliteration directly before a one-character noun it modifies (布朗/狗, 凯蒂/猫, 斯塔福德/郡): a
  person's would take 的 (布朗的狗);
- a word jieba's dictionary knows as something other than a person, directly before a one-character locative (竹林/里,
  水/中, 桌/上): a place or a thing, where a person would take a word of place (王芳/身边, 老王/那里).

- a relative clause before a generic person noun (攀岩/的/女孩, 拉琴/的/老人, 戴泳镜/的/孩子 is not: 孩子 is kin):
  in a description, "X 的 男孩" is "the boy who X"; a named person's boy would be his son (王芳的儿子).

A span with a name's context (a title or a verb of naming before it, a verb of saying or a title after it, a 、
list) is kept: there the reading as a name wins (白雪说, 记者黄狗). Famous people (``name_famous.txt``) are kept.
"""
from __future__ import annotations

from tuwen.transforms.names.context import Context
from tuwen.transforms.names.knowledge import Knowledge
from tuwen.transforms.names.lexicons import JOINERS, PERSON_TAGS
from tuwen.transforms.names.thresholds import (
    EVERYDAY_FREQ, EVERYDAY_READINGS, FREQ_COMMON_ADJECTIVE, FREQ_EVERYDAY_NOUN, SCORE_THREE,
)

# Aspect particles: a verb's, never a given name's last character (张着嘴, 戴了帽子).
ASPECT = frozenset("着了")
# Verbs of naming: what follows them is a name, whatever it reads as (一个叫王莉的女孩).
NAMING = ("叫", "叫做", "名为", "取名", "起名", "称为", "人称", "绰号", "外号", "名字是")
# Generic person nouns (no kinship, no title): what a relative clause describes in "X 的 ___" (攀岩的女孩).
GENERIC_PERSON = frozenset({"男孩", "女孩", "小男孩", "小女孩", "男人", "女人", "男子", "女子", "小孩", "老人",
                            "男生", "女生", "少年", "少女", "小伙", "小伙子", "姑娘", "妇女", "男士", "女士"})
# jieba tags of a one-character word that takes an object or modifies a noun: verbs and adjectives.
VERB_OR_ADJECTIVE = frozenset({"v", "a"})
# One-character locatives: after a place or a thing (竹林里, 水中), never right after a person (王芳身边, 老王那里).
LOCATIVES = frozenset("里中内外上下旁")
# jieba tags of a common noun.
COMMON_NOUN = frozenset({"n"})
# ... and of a one-character noun a transliteration may modify (狗 n, 犬 ng).
NOUN_AFTER = frozenset({"n", "ng"})


def everyday_reading(kb: Knowledge, ctx: Context, s: int, e: int) -> bool:
    """Does [s, e) read as everyday words (see the module docstring), with nothing around it that says person?"""
    text, tags, freqs = ctx.text, ctx.tags, ctx.freqs
    run = text[s:e]
    if not EVERYDAY_READINGS or len(run) < 2 or run in kb.lex.famous or has_name_context(ctx, s, e):
        return False
    first, rest = run[0], run[1:]
    if len(rest) == 1 and rest in ASPECT:
        return True
    first_tag, first_freq = tags.get(first), freqs.get(first) or 0
    if first_tag in VERB_OR_ADJECTIVE and first_freq >= EVERYDAY_FREQ:
        if len(rest) >= 2 and first_tag == "v" and tags.get(rest) in COMMON_NOUN and \
                kb.model.score(first, rest) < SCORE_THREE:  # (unless the name model reads a likely name)
            return True
        if len(rest) == 1 and first_tag == "a" and first_freq >= FREQ_COMMON_ADJECTIVE and \
                tags.get(rest) in COMMON_NOUN and (freqs.get(rest) or 0) >= FREQ_EVERYDAY_NOUN:
            return True
    k, first_word = ctx.index_at(e), ctx.index_at(s)
    if k is not None and ctx.words[k] in LOCATIVES and first_word is not None and \
            ctx.words[first_word] == run and tags.get(run) not in (None, *PERSON_TAGS):
        return True  # a place or a thing, one word, before a locative (竹林/里)
    if k is not None and len(ctx.words[k]) == 1 and ctx.tag(k) in NOUN_AFTER and \
            all(c in kb.lex.translit_chars or c in JOINERS for c in run):
        return True
    return k is not None and ctx.words[k] == "的" and k + 1 < len(ctx.words) and ctx.words[k + 1] in GENERIC_PERSON


def has_name_context(ctx: Context, s: int, e: int) -> bool:
    """A title or a verb of naming before [s, e) (一个名叫穆拉的小男孩), a verb of saying or a title after it, or a
    、 list beside it."""
    text = ctx.text
    return ctx.title_before(s) or ctx.context_at(e) or bool(ctx.title_follows(e)) or \
        text[e:e + 1] == "、" or text[s - 1:s] == "、" or any(text[max(0, s - len(w)):s] == w for w in NAMING)
