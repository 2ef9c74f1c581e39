"""The ``pii`` step: each kind at its boundaries (formats, check digits, separators, full-width, a number inside a
longer number), the decoys left alone, the edits it reports, and no original left in the output."""
import pickle

import pytest

from tuwen.transforms.pii import (ACCOUNT, ACCOUNT_TOKEN, BANK_CARD, CARD_TOKEN, EMAIL, EMAIL_TOKEN, ID_CARD,
                                  ID_TOKEN, PHONE, PHONE_TOKEN, PII_TOKENS, MaskPersonalData, PiiSpan)
from tuwen.transforms.text import EditedText, Normalize

STEP = MaskPersonalData()

# Numbers with known check digits (worked out by hand from GB 11643 and Luhn, not by the step):
ID_STANDARD_EXAMPLE = "11010519491231002X"  # the standard's own example
ID_VALID = "110105199003071239"
ID_WRONG_CHECK = "110105199003071230"  # 9 is right
ID_FEB_30 = "110105194902300020"  # right check digit, no such date
ID_NO_PROVINCE = "990105199003071232"  # right check digit, 99 is no province
ID_ALSO_LUHN = "620102199003070069"  # a valid ID (Gansu, 62) that also passes Luhn with UnionPay's prefix
ID_SHAPED_LUHN = "620102199003070002"  # a wrong ID check digit (9 is right), passes Luhn with UnionPay's prefix
VISA_TEST = "4111111111111111"
MASTERCARD_TEST = "5555555555554444"
UNIONPAY_16 = "6200000000000005"
UNIONPAY_19 = "6222021234567890128"
LUHN_NO_ISSUER = "1234567812345670"  # passes Luhn, no card starts with 12
VISA_18 = "411111111111111118"  # passes Luhn, but Visa cards have 16 or 19 digits


def fullwidth(s):
    return "".join(chr(ord(c) + 0xFEE0) for c in s)


def masked(text):
    return STEP.mask(text)


def kinds(text):
    return [(text[s.start:s.end], s.kind) for s in STEP.spans(text)]


# -- phones -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("number", [
    "13812345678", "138 1234 5678", "138-1234-5678", "138.1234.5678", "138 12345678", "+8613812345678",
    "+86 138 1234 5678", "0086-13812345678", "(+86)13812345678", "19912345678", "16612345678", "14712345678",
])
def test_a_mainland_mobile_number_in_its_usual_forms_is_masked_whole(number):
    assert kinds(f"房东电话{number}，看房随时") == [(number, PHONE)]


def test_full_width_digits_and_separators_are_read_as_ascii_with_offsets_kept():
    text = "联系：１３８－１２３４－５６７８。"
    assert kinds(text) == [("１３８－１２３４－５６７８", PHONE)]
    assert masked(text) == "联系：<电话>。"


def test_a_mobile_number_in_chinese_numerals_is_masked():
    assert masked("联系一三八一二三四五六七八，幺八六 一二三四 五六七八") == "联系<电话>，<电话>"


@pytest.mark.parametrize("text", [
    "138123456789",  # 12 digits
    "913812345678",  # a digit before
    "2024-13812345678",  # joined to a number by a dash
    "13812345678.5",  # a decimal
    "138 1234 5678 9012",  # one more group
    "SN13812345678",  # a model or serial number
    "15412345678",  # 154 is not allocated
    "12812345678",  # 12x is no mobile prefix
])
def test_a_mobile_shape_inside_a_longer_number_or_off_the_numbering_plan_is_not_masked(text):
    assert masked(text) == text


@pytest.mark.parametrize("number", [
    "010-62345678", "(010)62345678", "（010）6234 5678", "021 62345678", "0755-88889999", "0571-8888888",
    "075588889999", "+86 10 62345678", "010-62345678-123", "010-62345678转123", "0755-88889999分机8021",
])
def test_a_landline_with_a_real_area_code_and_extension_is_masked_whole(number):
    assert kinds(f"公司座机{number}，工作日有人") == [(number, PHONE)]


@pytest.mark.parametrize("text", [
    "010-12345678",  # a subscriber number never starts with 1
    "0755-1234",  # too short
    "010-62345678-123456",  # no extension has six digits: a longer number
    "0123-62345678",  # 012x is no area code
])
def test_a_landline_shape_off_the_numbering_plan_is_not_masked(text):
    assert masked(text) == text


def test_a_subscriber_number_alone_is_masked_only_after_a_phone_word():
    assert masked("电话：62345678") == "电话：<电话>"
    assert masked("座机 8234567") == "座机 <电话>"
    assert masked("代码62345678") == "代码62345678"
    assert masked("TEL13812345678") == "TEL<电话>"


@pytest.mark.parametrize("number", ["400-820-8820", "4008208820", "800-810-8888", "95588", "10086", "12345"])
def test_business_service_numbers_are_not_masked(number):
    text = f"服务热线{number}，欢迎来电"
    assert masked(text) == text


# -- ID cards -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("number", [ID_STANDARD_EXAMPLE, ID_STANDARD_EXAMPLE.lower(), ID_VALID,
                                    "110105 19900307 1239", "110105-19900307-1239",
                                    fullwidth(ID_VALID), fullwidth(ID_STANDARD_EXAMPLE)])
def test_an_id_card_number_with_a_right_check_character_is_masked(number):
    assert kinds(f"遗失身份证，号码{number}，声明作废") == [(number, ID_CARD)]


@pytest.mark.parametrize("number", [ID_WRONG_CHECK, ID_FEB_30, ID_NO_PROVINCE])
def test_an_id_card_shape_failing_its_check_digit_date_or_province_is_not_masked_without_an_id_word(number):
    text = f"档案记录{number}已归档"
    assert masked(text) == text


def test_after_an_id_word_a_wrong_check_digit_is_masked_as_a_mistyped_id_but_no_impossible_date_or_province():
    assert masked(f"身份证号{ID_WRONG_CHECK}") == "身份证号<证件号>"
    assert masked(f"身份证号{ID_FEB_30}") == f"身份证号{ID_FEB_30}"
    assert masked(f"身份证号{ID_NO_PROVINCE}") == f"身份证号{ID_NO_PROVINCE}"


@pytest.mark.parametrize("text", [f"9{ID_VALID}", f"{ID_VALID}7", f"{ID_VALID}abc", f"A{ID_VALID}"])
def test_an_id_card_number_inside_a_longer_number_or_word_is_not_masked(text):
    assert masked(text) == text


def test_the_old_15_digit_id_is_masked_only_after_an_id_word():
    assert masked("身份证号：110105900307123") == "身份证号：<证件号>"
    assert masked("ID: 110105900307123") == "ID: <证件号>"
    assert masked("记录110105900307123") == "记录110105900307123"
    assert masked("身份证号：110105901307123") == "身份证号：110105901307123"  # month 13


# -- bank cards ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("number", [VISA_TEST, MASTERCARD_TEST, UNIONPAY_16, UNIONPAY_19, "6200 0000 0000 0005",
                                    "6222-0212-3456-7890-128", "6222 0212 3456 7890 128", "622202 1234567890128",
                                    fullwidth(UNIONPAY_16)])
def test_a_card_number_with_an_issuer_prefix_and_a_right_luhn_digit_is_masked(number):
    assert kinds(f"工资卡{number}被冻结了") == [(number, BANK_CARD)]


@pytest.mark.parametrize("number", [
    VISA_TEST[:-1] + "2",  # Luhn fails
    UNIONPAY_19[:-1] + "9",
    LUHN_NO_ISSUER,
    VISA_18,
])
def test_a_card_shape_failing_luhn_or_without_an_issuer_of_that_length_is_not_masked(number):
    text = f"记录{number}已核对"
    assert masked(text) == text


@pytest.mark.parametrize("text", [f"1{UNIONPAY_16}", f"{UNIONPAY_16}1", f"{UNIONPAY_16}.5", f"X{UNIONPAY_16}",
                                  "6200 0000 0000 0005 1234"])
def test_a_card_number_inside_a_longer_number_is_not_masked(text):
    assert masked(text) == text


def test_an_18_digit_number_that_is_both_a_valid_id_and_a_valid_card_is_an_id_unless_a_card_word_precedes_it():
    assert kinds(f"号码{ID_ALSO_LUHN}") == [(ID_ALSO_LUHN, ID_CARD)]
    assert kinds(f"卡号{ID_ALSO_LUHN}") == [(ID_ALSO_LUHN, BANK_CARD)]


def test_an_18_digit_number_with_an_ids_province_and_date_is_no_card_without_a_card_word():
    assert masked(f"档案记录{ID_SHAPED_LUHN}") == f"档案记录{ID_SHAPED_LUHN}"
    assert kinds(f"银行卡{ID_SHAPED_LUHN}") == [(ID_SHAPED_LUHN, BANK_CARD)]


@pytest.mark.parametrize("word", ["订单号", "订单号：", "运单", "流水号 ", "交易号:", "Order #"])
def test_after_an_order_word_no_number_is_masked(word):
    for number in (UNIONPAY_16, ID_VALID, "13812345678"):
        assert masked(word + number) == word + number


# -- e-mail -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("address", ["abc.def@163.com", "12345678@qq.com", "Zhang.San+photo@Gmail.com",
                                     "li_wang-01@mail.company.com.cn", "abc＠qq．com", "ａｂｃ＠ｑｑ．ｃｏｍ"])
def test_an_email_address_is_masked_whole(address):
    assert kinds(f"投稿邮箱：{address}，稿费从优") == [(address, EMAIL)]


@pytest.mark.parametrize("text", ["icon@2x.png", "@小明 你好", "转发微博//@user123: 好看", "a@b", "user@localhost",
                                  "见https://user:pass@example.com/p"])
def test_file_names_mentions_and_addresses_without_a_domain_are_not_emails(text):
    assert masked(text) == text


# -- accounts -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [
    ("QQ：123456789 备注来意", "123456789"), ("qq 12345", "12345"), ("扣扣98765432，一起开黑", "98765432"),
    ("Q号:10001", "10001"), ("QQ号码是 2345678901", "2345678901"), ("ＱＱ：１２３４５６", "１２３４５６"),
])
def test_a_qq_number_after_its_word_is_an_account(text, value):
    assert kinds(text) == [(value, ACCOUNT)]


@pytest.mark.parametrize("text", ["QQ群123456789欢迎加入", "QQ：1234", "QQ：0123456", "qq123456789012",
                                  "产品编号123456789"])
def test_a_qq_group_a_short_number_or_a_number_without_its_word_is_not_an_account(text):
    assert masked(text) == text


@pytest.mark.parametrize("text,value", [
    ("加微信abc_123了解详情", "abc_123"), ("加V：zhangsan88", "zhangsan88"), ("vx:wang-li2024 私聊", "wang-li2024"),
    ("微信号：zhangsan", "zhangsan"), ("加微信 zhangsan", "zhangsan"), ("+V abc12345", "abc12345"),
    ("wx abc12345", "abc12345"), ("威信：xiaomei666", "xiaomei666"), ("QQ/微信：abc_999", "abc_999"),
    ("转账记录 wxid_8d3k2j4h5g6f22 截图", "wxid_8d3k2j4h5g6f22"),
])
def test_a_wechat_id_after_its_word_is_an_account(text, value):
    assert kinds(text) == [(value, ACCOUNT)]


@pytest.mark.parametrize("text", ["微信 WeChat 很好用", "微信 zhangsan", "微信支付很方便", "微信abc", "wxabc12345",
                                  "二维码见图vxabc",
                                  "下载微信：WeChat"])
def test_words_after_wechat_that_are_no_id_are_not_masked(text):
    assert masked(text) == text


def test_an_email_holding_a_qq_number_is_one_email():
    assert kinds("QQ：12345678@qq.com") == [("12345678@qq.com", EMAIL)]


def test_a_count_after_an_account_word_is_not_an_account():
    assert masked("微信 30000人关注") == "微信 30000人关注"


def test_a_mobile_number_after_an_account_word_is_a_phone():
    assert kinds("加V13812345678") == [("13812345678", PHONE)]
    assert kinds("微信同号13812345678") == [("13812345678", PHONE)]
    assert kinds("QQ：13812345678") == [("13812345678", PHONE)]


# -- decoys -------------------------------------------------------------------------------------------------------

DECOYS = [
    "2024-01-15在西湖拍的", "2024年1月15日，晴", "20240115", "2023.12.31跨年", "2024/03/15 08:30:45",
    "营业时间09:00-21:30", "¥1999入手", "1999元", "￥13999.00", "售价13812345678元", "人均168块",
    "2024年的第一场雪", "1998年出生", "新买的iPhone 15 Pro", "RTX4090显卡", "GB18030编码", "Mate60", "i7-13700K",
    "航班CA1234晚点", "MU5101", "坐G1234次列车", "D301", "K1178", "已有12345678人参与", "销量100000+",
    "第13812345位访客", "https://weibo.com/1234567890/4987654321098765", "https://item.jd.com/13812345678.html",
    "www.example.com/p/13812345678", "原文 http://t.cn/A6abcd 链接", "ISBN 978-7-111-54742-6", "GB/T 7714-2015",
    "时间戳1700000000123", "版本3.12.1", "货号13812345678", "SF1234567890123已签收", "订单号2024011512345678901",
    "IP 192.168.1.1", "坐标 39.9042, 116.4074", "0.5%", "3:2 的比分", "第1234567890123456期",
]


@pytest.mark.parametrize("text", DECOYS)
def test_dates_times_prices_years_models_flights_trains_counts_urls_and_order_ids_are_left_as_they_are(text):
    assert STEP.find(text) == []


def test_personal_data_inside_a_url_is_masked_only_as_the_value_of_a_personal_query_key():
    assert masked("https://example.com/u/13812345678") == "https://example.com/u/13812345678"
    assert masked("https://example.com/?id=1&phone=13812345678") == "https://example.com/?id=1&phone=<电话>"
    assert masked("https://example.com/，电话13812345678") == "https://example.com/，电话<电话>"


# -- edits and output ---------------------------------------------------------------------------------------------

POST = ("出租两室一厅，联系电话１３８ １２３４ ５６７８（微信同号），或加V：room_2024。押金转账到卡号6222 0212 3456 7890 128，"
        f"身份证{ID_VALID}复印件，邮箱 fang.dong@163.com，座机0755-88889999转12，QQ：87654321")
POST_ORIGINALS = ["１３８ １２３４ ５６７８", "room_2024", "6222 0212 3456 7890 128", ID_VALID, "fang.dong@163.com",
                  "0755-88889999转12", "87654321"]


def test_find_replaces_each_span_with_the_placeholder_of_its_kind():
    found = STEP.find(POST)
    assert [(POST[r.start:r.end], r.replacement) for r in found] == list(zip(POST_ORIGINALS, [
        PHONE_TOKEN, ACCOUNT_TOKEN, CARD_TOKEN, ID_TOKEN, EMAIL_TOKEN, PHONE_TOKEN, ACCOUNT_TOKEN]))
    assert STEP.spans(POST)[0] == PiiSpan(POST.index("１３８"), POST.index("（微信"), PHONE)


def test_after_normalize_the_pii_edits_carry_raw_offsets_and_originals_and_swallow_the_width_edits():
    et = EditedText(POST)
    et.apply("normalize", Normalize().find(et.text))
    et.apply(STEP.name, STEP.find(et.text))
    pii_edits = [e for e in et.edits if e.step == "pii"]
    assert [e.original for e in pii_edits] == POST_ORIGINALS
    assert all(POST[e.start:e.end] == e.original and e.replacement in PII_TOKENS for e in pii_edits)
    assert [e for e in et.edits if e.step == "normalize"] == []  # the full-width digits were all inside the phone
    assert et.text == ("出租两室一厅，联系电话<电话>（微信同号），或加V：<账号>。押金转账到卡号<卡号>，身份证<证件号>复印件，"
                       "邮箱 <邮箱>，座机<电话>，QQ：<账号>")


def test_no_removed_original_is_left_anywhere_in_the_output():
    et = EditedText(POST)
    et.apply("normalize", Normalize().find(et.text))
    et.apply(STEP.name, STEP.find(et.text))
    plain = Normalize()
    for original in POST_ORIGINALS:
        normalised = EditedText(original)
        normalised.apply("normalize", plain.find(original))
        for form in {original, normalised.text, original.replace(" ", ""), normalised.text.replace(" ", "")}:
            assert form not in et.text, form
    assert not any(c.isdigit() for c in et.text)


def test_the_step_is_idempotent_and_its_placeholders_hold_nothing_to_find():
    once = masked(POST)
    assert masked(once) == once
    assert all(STEP.find(token) == [] for token in PII_TOKENS)


def test_the_step_pickles_as_it_is():
    assert pickle.loads(pickle.dumps(STEP)).find(POST) == STEP.find(POST)
