"""Every policy number of the names step, named once: what a candidate must score to be masked.

Three kinds of evidence, three units: the learnt character model's probabilities (0..1, see
:mod:`tuwen.transforms.name_tagger`), the name model's log-likelihood ratios (nats, see
:class:`~tuwen.transforms.names.model.NameModel`), the given-name character scores (a ratio, see
:func:`~tuwen.transforms.names.model.given_name_char_scores`: 伟 high, 的 near 0), and jieba dictionary counts.
Change one here and rerun ``bench/names_quality.py``: its figures were measured with these values.
"""

# -- the learnt character model (probabilities) ----------------------------------------------------------------
# A run is proposed where every network of the model reaches its own ``f1_threshold`` (then completed at its edges:
# name_tagger.agreed). That cut maximises character F1 on MSRA's test split and Resume's dev split, sentences of the
# bench's file removed: not a value fitted to the bench. The values below apply to the networks' mean probability.
# below this on every character, a span the rules proposed is dropped; on some, they are cut out (0.05, not 0.01:
# dictionary words jieba tags a person that the model all but rules out, 严冬, 钟爱, 余震, 童子军; the knee on MSRA's
# test split and Resume's dev split, bench/names_quality.py)
MODEL_VETO = 0.05
MODEL_RULED_OUT = 0.01  # a model run does not grow to the rest of a name word over a character below this (张少/农等)
# a span this sure may hold an everyday word (宋朝弟) or cut a jieba word (a transliteration's edge character, 帕尔哈/提唱:
# name_tagger.grown_transliterations, on the networks' mean)
MODEL_SURE = 0.5
# every character this sure: the run may be a longer transliteration (库马拉通加), end where a jieba word goes on
# with a word of its own (克林顿/政府), hold an everyday word (but not as its given name: 杨/树林, so 郑全军 is
# missed), be a lone surname (王家传人, 汤杯)
MODEL_CERTAIN = 0.9
MODEL_TRUST = 0.3  # a run kept whole (whole_run_ok), or a lone surname mention: every character at least this likely

# switches for ablation (bench/names_quality.py figures are with all on)
TRUST_MODEL_RUNS = True  # model runs the name checks cut or refuse, kept whole when no everyday thing
LONE_SURNAMES = True  # a surname alone, a word of its own, the model certain of it
EVERYDAY_READINGS = True  # spans that read as everyday words in the text's grammar go (names/everyday.py)

# -- the name model (nats) -------------------------------------------------------------------------------------
# A surname and two given-name characters that jieba left unknown or split; a surname and one given-name
# character, which is far more often an ordinary word, only with a title or verb of saying beside it.
SCORE_THREE = 5.0  # surname + two characters (scored_candidates; or a title-led one holding a dictionary word)
SCORE_TWO_IN_CONTEXT = 4.0  # surname + one character with a title before or a verb of saying after it
CONTEXT_BONUS = 2.0  # added per piece of context (title before, saying after, a 、 list) in scored_candidates
SCORE_SPLIT = 5.0  # the evidence a split surname + known word needs without context (蒋/天才, not 曹/火星)
SCORE_CONJOINED = 3.5  # a rare dictionary word beside 和/与 and a name is a name (严良和李培智)
SCORE_HMM = 4.5  # a weak person tag of jieba's HMM (ambiguous surname, untypical given name) needs this
SCORE_FLOOR = 1.0  # below this, a surname + given characters are an ordinary word's (通知书, 东道主)
AMBIGUOUS_PENALTY = 2.0  # taken off the score of a surname that is also an everyday word (于, 和, 高)
NEW_WORD_BONUS = 2.0  # jieba's HMM, too, made the candidate's characters one unknown word
SCORE_TWO_NEW_WORD = 6.0  # surname + one character without context: only as such a new word, and this sure
GIVEN_ONLY_CHAR = 2.5  # a given name alone (欣嘉) by jieba's HMM: every character at least this name-like
TRANSLIT_SCORE = 2.5  # mean per-character score from which a run reads as a transliterated name
TRANSLIT_SHARE = 0.6  # share of transliteration-list characters from which a run after a title is foreign

# -- given-name character scores (given_name_char_scores) --------------------------------------------------------
GIVEN_NR_TWO = 0.5  # a frequent two-character word tagged nr (明白 is not 李鹏): its given character this name-like
GIVEN_NR_THREE = 0.12  # a three- or four-character word tagged nr: the mean given character at least this
GIVEN_NR_THREE_FREQUENT = 0.15  # ... and this when the word and its given part are both frequent (雷阵雨)
GIVEN_NEW_TWO = 0.05  # a two-character word jieba's HMM made up (mean)
GIVEN_NEW_THREE = 0.12  # a longer word jieba's HMM made up (mean; 钱随粮 is below)
GIVEN_OTHER_TAG = 0.2  # a three-character word jieba tags otherwise (周恩来 as a time word)
GIVEN_OWN_WORD = 0.3  # a given name that is a word of its own after a glued surname (对陶/汉明)
GIVEN_SPLIT_WORD = 0.15  # a rare known word after a split surname may be its given name without context
GIVEN_HMM = 0.1  # below this, jieba's HMM person tag alone is weak: the name model must agree
GIVEN_IN_CONTEXT = 0.15  # between a title and a verb of saying
GIVEN_IN_HALF_CONTEXT = 0.3  # with one of the two only, or an ambiguous surname
GIVEN_LAST_CHAR = 0.15  # a cut-off last given character (李铁/辰) rejoins its name
GIVEN_BESIDE_NAME = 0.1  # a name-shaped list item (、) or word across 和/与 from a name

# -- jieba dictionary counts -----------------------------------------------------------------------------------
EVERYDAY_FREQ = 1000  # count above which a word is everyday vocabulary (海军; 老师, 小时 after a prefix)
RARE_WORD = 5  # count at or below which a place word may still be a person (库马拉通加)
FREQ_NAME_WORD = 100  # a word tagged a person up to this count may be (part of) a name
FREQ_EVERYDAY_GIVEN = 300  # a two-character given part counted above this is an everyday word (杨/树林)
FREQ_WHOLE_RUN = 300  # a model run counted above this is kept whole only when the model is certain
FREQ_TWO_CHAR_NAME_WORD = 300  # a two-character "name" counted above this (胡子) needs a sure model
FREQ_ORDINARY = 50  # an ordinary word inside a candidate counted above this refutes it
FREQ_ORDINARY_AFTER_TITLE = 200  # ... right after a title (where a name is likelier)
FREQ_ORDINARY_NEXT = 100  # an ordinary word starting after a candidate counted above this: a name may end there
FREQ_LISTED_JAPANESE = 50  # a long listed name with a Japanese surname, at most this: beyond the model's veto
FREQ_NR_TWO_RARE = 300  # a two-character word tagged nr, common surname, up to this: trusted
FREQ_NR_THREE_RARE = 200  # a longer word tagged nr up to this: trusted (given score permitting)
FREQ_GIVEN_RARE = 50  # ... or its given part at most this
FREQ_NZ_RARE = 50  # a three-character word tagged nz up to this, common surname: a name
FREQ_BEFORE_SAYING = 200  # a name-shaped word of another tag up to this, before a verb of saying
FREQ_SUBJECT = 10  # ... up to this, opening a sentence before 在 / 正在 (严良在骑车)
FREQ_SPLIT_GIVEN_RARE = 100  # a known word after a split surname up to this may be its given name
FREQ_SPLIT_GIVEN_EVERYDAY = 2000  # above this it needs context, however name-like (曹/火星)
FREQ_CONTEXT_WORD = 100  # between title and saying, a candidate word counted above this is everyday (海军)
FREQ_NOUN_NAME = 300  # a rare name jieba lists as a noun (严义埙) after a title, up to this
FREQ_INSIDE_ANY = 200  # scored_candidates: a word inside counted above this refutes the candidate
FREQ_INSIDE_TAGGED = 50  # ... a word of a non-person tag above this (any count for surname + one)
FREQ_RARE_CUT = 100  # a two-character word counted up to this may be cut at a name's end (林景文/种)
FREQ_CONJOINED_RARE = 50  # a dictionary word across 和/与 from a name up to this may be one
FREQ_SURNAME_TITLE_WORD = 500  # surname + a one-character title counted above this is a word (古老)
FREQ_TRANSLIT_IN_CONTEXT = 100  # words of a transliterated run with title/saying context up to this
FREQ_TRANSLIT_RARE = 30  # words of a name-like transliterated run tagged a place, up to this
FREQ_KNOWN_HEAD = 100  # a person word counted at least this heads a longer word before a noun (克林顿政府)
FREQ_COMMON_ADJECTIVE = 10000  # a one-character adjective this frequent (黄, 白, 小) + a frequent noun: everyday
FREQ_EVERYDAY_NOUN = 1000  # ... the noun at least this frequent (狗, 雪, 衣; see names/everyday.py)
