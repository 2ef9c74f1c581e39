"""Person-name masking: find person names in Chinese text and replace each with ``<人名>``.

The ``names`` text step (see :mod:`tuwen.transforms.text`). It combines what jieba gives (its segmentation, whose
HMM proposes unknown words such as new names, and its dictionary's part-of-speech tags) with knowledge written down
in ``lexicons/`` as plain text — surnames (Chinese, compound, Japanese), characters that never occur in a given name,
characters of transliterated foreign names, titles and verbs of saying — and recognises:

- Chinese names: surname + one or two given-name characters (王晨, 胡锦涛, 欧阳修), whether jieba kept them in one
  word, split them (曹/火星) or glued a neighbouring function character to them (致牟小东, 赵华说);
- a surname with a title or kinship word (王先生, 李老师, 胡老, 张某, 老王, 小李): the surname is masked;
- names inside longer dictionary words (邓小平理论, 马克思主义);
- well-known people written in ways the rules refuse (庄子, 李白, 释迦牟尼: ``lexicons/name_famous.txt``);
- a surname alone after the full name in the same text (王树斌……请王在…; 到刘家), and after 姓 (姓张的老伯);
- Japanese names (桥本龙太郎);
- transliterated foreign names (克林顿, 斯特罗耶夫, 约翰·克里, 科菲·安南), told apart from transliterated place
  names (俄罗斯, 阿根廷) by jieba's dictionary tags.

Weak candidates (a surname that is also a common word such as 于/和/高, a two-character transliteration) need
context: a title before them or a verb of saying after them. jieba's dictionary tags many everyday words as names
(明白, 毛巾, 莫斯科); the given-name character statistics computed from its ~100,000 listed names, the characters
that never occur in given names and the not-a-person list keep most of them out. jieba.posseg's HMM tags the words
its dictionary does not know; it is run only next to such words, with a faster Viterbi giving the same result.

A character model of names (:class:`~.model.NameModel`, log-likelihood ratios of surname and given-name characters
against running text, and of transliteration characters, all computed from jieba's own dictionary) scores
candidates: it vetoes name-shaped dictionary words whose characters are not a name's (通知书, 东道主), and a last
pass proposes surname + one or two characters at every unmasked surname position wherever jieba cut (朱/力行,
赵致/真的), kept when the score, the edges (no ordinary word cut in two) and the context (title before, verb of
saying after, 、 lists) agree. Transliterated runs followed by a place or company suffix (丘布特省, 休斯公司) are
not names.

Last, a learnt character model (:mod:`tuwen.transforms.name_tagger`, two small convolutional networks trained from
two seeds on the MSRA (news) and Resume (résumés) NER corpora that wheels on PyPI ship, half their sentences again
with the names swapped for others, and on everyday dialogue and sentences and photo descriptions; it uses jieba's
cut as features) gives each character a probability of being inside a name (the networks' mean): rule finds it gives
(next to) no chance are dropped (not a surname before a title: 县委魏常委), and the runs the rules missed that both
networks propose (completed at their edges by a character of the name one of them proposes, and a transliteration
by the transliteration characters beside it they are sure of on average: :func:`~tuwen.transforms.name_tagger.agreed`)
are added when they pass the same checks (no everyday word cut in two, a Chinese name's characters
or a transliteration's, no title taken in); where the model is certain of every character, a run may also end inside
a jieba word that goes on with a word of its own (克林顿/政府) or be a longer transliteration. A run those checks would
cut or refuse is still taken whole when it is no everyday thing (:func:`~.tagger_runs.whole_run_ok`: no frequent
dictionary word, no surname + everyday word, nothing of a place): the model knows names better than the rules,
except in text unlike its newspaper training, where jieba's dictionary says what is everyday (胡子, 戴帽子, 杨树林 are
listed as names there). The model runs once over a whole batch of texts (:meth:`~.person.PersonNames.find_many`,
which ``tuwen text`` calls per block of lines).

Recall, precision and speed: the README's measured table (``bench/names_quality.py``, ``bench/text_speed.py``).
Caveat: the bench's news sentences come from the same newspaper corpus the model was trained on (the bench's own
sentences were removed from training, but the people in them recur); the bench also reports Resume's test split,
held out from training, and photo captions.

Beam-free; one instance per process (the pipeline builds it in ``DoFn.setup``); it pickles as nothing (everything is
rebuilt from the package's lexicons) and loads jieba lazily, once per process.

The package, one module per family of rules (each pass a function ``pass_name(kb, ctx, found)`` adding
``(start, end)`` spans to ``found``; :class:`~tuwen.transforms.names.person.PersonNames` calls them in order):

- ``person`` — the step and its pass order; ``tagger_runs`` — the learnt model's veto and additions;
  ``everyday`` — the last say: spans that read as everyday words in the text's grammar (张着, 拉/马车, 攀岩/的/女孩);
- ``chinese`` — word-by-word Chinese and Japanese names; ``candidates`` — surname positions wherever jieba cut;
  ``hmm`` — names jieba's HMM proposes (and a faster Viterbi); ``titles`` — titles, kinship words, 姓;
  ``foreign`` — transliterated names; ``famous`` — well-known people; ``grow`` — passes that grow finds;
- ``context`` (one text's words), ``edges`` (where a name may start and end), ``knowledge`` (lexicons, name model
  and given-name scores together), ``lexicons``, ``model`` (the name statistics), ``resources`` (jieba's tables and
  the statistics, loaded once per process and cached on disk; shared with :mod:`tuwen.transforms.name_tagger`) and
  ``thresholds`` (every policy number, named once).
"""
from __future__ import annotations

__all__ = ["PersonNames"]


def __getattr__(name: str):
    # PersonNames is imported on first use, not with the package: tuwen.transforms.name_tagger imports
    # names.lexicons and names.resources, and names.person imports name_tagger, so an eager import here would
    # make a circle.
    if name == "PersonNames":
        from tuwen.transforms.names.person import PersonNames

        return PersonNames
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
