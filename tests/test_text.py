import pytest

from tuwen.transforms.text import (MASK_TOKENS, NAME_TOKEN, EditedText, Normalize, Replacement, TextCleaner,
                                   has_chinese, is_japanese)


def clean(text, **kw):
    return TextCleaner(**kw).clean(text)


def test_chinese_punctuation_is_left_as_it_is():
    text = "你好，世界！真的吗？是的：好；《书名》「引号」、句号。……"
    r = clean(text)
    assert r.text == text and r.edits == []


def test_fullwidth_letters_digits_and_space_become_ascii():
    r = clean("ＡＢＣ　１２３相机")
    assert r.text == "ABC 123相机"
    assert all(e.step == "normalize" for e in r.edits)


def test_compatibility_forms_are_normalised():
    assert clean("ﬁ 中").text == "fi 中"
    assert clean("\uf900中").text == "\u8c48中"  # CJK compatibility ideograph → unified


def test_zero_width_and_control_characters_are_removed_and_whitespace_collapsed():
    assert clean("  中\u200b文\t\t测试\r\n ").text == "中文 测试"


def test_every_normalisation_is_an_edit_with_raw_offsets():
    raw = "  中ＡＢ文  "
    r = clean(raw)
    assert r.text == "中AB文"
    for e in r.edits:
        assert raw[e.start:e.end] == e.original
    # replaying the edits on the raw text gives the cleaned text
    out, pos = [], 0
    for e in r.edits:
        out += [raw[pos:e.start], e.replacement]
        pos = e.end
    out.append(raw[pos:])
    assert "".join(out) == r.text


def test_a_later_edit_overlapping_an_earlier_one_becomes_one_edit_over_the_union():
    et = EditedText("ＡＢ张三说")
    et.apply("normalize", Normalize().find(et.text))
    assert et.text == "AB张三说"
    et.apply("names", [Replacement(1, 4, NAME_TOKEN)])  # "B张三" in current coordinates
    assert et.text == "A<人名>说"
    assert [(e.step, e.start, e.end, e.original) for e in et.edits] == [
        ("normalize", 0, 1, "Ａ"), ("names", 1, 4, "Ｂ张三")]


def test_no_step_changes_the_inside_of_a_mask():
    et = EditedText("张三在这里")
    et.apply("names", [Replacement(0, 2, NAME_TOKEN)])
    et.apply("sensitive", [Replacement(1, 3, "**")])  # inside <人名>
    assert et.text == "<人名>在这里"


def test_edits_never_overlap():
    et = EditedText("一二三四五六")
    et.apply("a", [Replacement(1, 3, "X")])
    et.apply("b", [Replacement(0, 2, "YY"), Replacement(3, 4, "Z")])
    spans = [(e.start, e.end) for e in et.edits]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert et.text == "YY四Z六"  # b saw "一X四五六"


@pytest.mark.parametrize("text", ["中", "\u3400", "\U00020000", "\U0002b740", "\U00030000", "\uf900", "〇"])
def test_every_cjk_ideograph_block_counts_as_chinese(text):
    assert has_chinese(text)


@pytest.mark.parametrize("text", ["abc", "한국어", "ひらがな", "⺀⼀", NAME_TOKEN + "***", ""])
def test_no_ideograph_is_not_chinese(text):
    assert not has_chinese(text)


def test_a_text_that_was_only_a_name_has_no_chinese_left():
    assert clean(NAME_TOKEN).dropped == ("text", "no_chinese")


@pytest.mark.parametrize("token", MASK_TOKENS)
def test_no_placeholder_is_chinese_text(token):  # <电话> alone is not Chinese text, like <人名>
    assert not has_chinese(token + " " + token + "***")
    assert clean("电话：" + token).dropped is None


@pytest.mark.parametrize("token", MASK_TOKENS)
def test_no_later_step_changes_the_inside_of_a_placeholder(token):
    et = EditedText("联系13812345678")
    et.apply("pii", [Replacement(2, 13, token)])
    et.apply("sensitive", [Replacement(3, 5, "**")])  # inside the placeholder
    assert et.text == "联系" + token


def test_japanese_with_kana_is_dropped_but_a_single_no_is_chinese():
    assert is_japanese("公園で犬が走っています。")
    assert clean("東京の夜景です").dropped == ("text", "japanese_text")
    assert not is_japanese("小明の日常")
    assert clean("小明の日常").dropped is None


@pytest.mark.parametrize("text, reason", [("", "empty_text"), ("   \u200b ", "empty_text"), (None, "empty_text"),
                                          (123, "text_not_string"), ("English only", "no_chinese")])
def test_basic_checks(text, reason):
    assert clean(text).dropped == ("text", reason)


def test_max_text_chars_boundary():
    assert clean("中" * 1000, max_chars=1000).dropped is None
    assert clean("中" * 1001, max_chars=1000).dropped == ("text", "text_too_long")


def test_a_1mb_text_is_rejected_without_processing():
    r = clean("中" * 1_000_000)
    assert r.dropped == ("text", "text_too_long") and "1000000" in r.detail


def test_unknown_step_names_are_refused():
    class Bogus:
        name = "bogus"

        def find(self, text):
            return []

    with pytest.raises(ValueError):
        TextCleaner([Bogus()])


def test_cleaning_a_batch_equals_cleaning_each_text():
    from tuwen.transforms.boilerplate import StripBoilerplate

    cleaner = TextCleaner([StripBoilerplate()])
    raws = ["Ｈｅｌｌｏ 世界　 ", None, "", 7, "x" * 2000, "图片展开全文", "ｶﾀｶﾅとひらがなの文", "张伟\u200b说"]
    one_by_one = [cleaner.clean(r) for r in raws]
    assert cleaner.clean_many(raws) == one_by_one
    assert [r.dropped for r in one_by_one][1:5] == [("text", "empty_text"), ("text", "empty_text"),
                                                    ("text", "text_not_string"), ("text", "text_too_long")]
