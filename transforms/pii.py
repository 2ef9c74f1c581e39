"""Personal data beyond names: the ``pii`` text step masks phone numbers, ID card numbers, e-mail addresses, bank
card numbers and messaging accounts, each with a placeholder naming its kind.

What this room is for: :class:`MaskPersonalData` finds those spans in a caption and replaces each whole span with
``<电话>``, ``<证件号>``, ``<邮箱>``, ``<卡号>`` or ``<账号>`` (one placeholder per span, so the number of digits is not
kept either). It runs after ``names``; like every text step it only says *which* spans to replace
(:class:`~tuwen.transforms.text.EditedText` keeps the edits in raw coordinates). Beam-free, no state, no files.

Precision matters as much as recall: crawled captions are full of numbers that are nobody's (dates, prices, model
numbers, flights, order ids). So a number is masked only when its *format* says what it is:

- mobile numbers follow the mainland numbering plan (the allocated prefixes 13x, 145-149, 15x but 154, 162/165/
  166/167, 170-178, 18x, 19x but 194; 11 digits written whole, 3-4-4 with separators (space, - or .), or 3
  then 8), optionally after +86, 0086 or (+86);
- landlines carry a real area code (010 and 02x with 8 subscriber digits, 0[3-9]xx with 7 or 8), the subscriber
  number starting 2-9, optionally in parentheses or after +86 (area code without its 0), optionally with an
  extension (-123, 转123, 分机123, ext.123). A subscriber number alone is masked only right after a phone word
  (电话, 手机, 座机, tel, ...): eight bare digits are more often a date (20240115) or an id;
- 400 and 800 numbers, 95xxx/96xxx and short service numbers (10086, 12345) are *not* masked: they are issued to
  businesses and printed on their adverts to be called, so they are nobody's personal data and often the point of
  the caption; they fall outside both formats above by construction;
- ID cards (GB 11643-1999): 18 characters whose first two digits are a real province code, whose date part is a
  real calendar date (born 1900-2099), and whose check character (ISO 7064 MOD 11-2, ``X`` for 10, either case) is
  right. The old 15-digit form has no check digit, and about one random 15-digit number in 70 passes its
  province and date checks, so it is masked only after an ID word (身份证, 证件号, ...). So is an 18-character
  number with a wrong check character but a real province and date: a mistyped ID still tells a birth date and
  16 of its 17 digits; without the word it is taken for some other id;
- bank cards: 16-19 digits (whole, 4-4-4-4[-k], or 6 then the rest) with a plausible issuer prefix and a length
  that issuer uses (:data:`CARD_NETWORKS`: UnionPay 62, Chinese banks' older 60 and 955, Visa 4, Mastercard 51-55
  and 2221-2720, JCB 3528-3589, Discover 65) and a right Luhn digit. One random number in ten passes Luhn, so a
  number right after an order word (订单号, 运单, 流水号, ...) is never a card, ID or phone. An 18-digit number
  with an ID's province and birth date is an ID (when its check character is right) or nothing, unless a card
  word (卡号, 银行卡, ...) stands before it: cards have 16 or 19 digits but for a few UnionPay ones;
- e-mail addresses: ASCII local part @ dotted domain with an alphabetic top-level label, not a file extension
  (``icon@2x.png`` is an image name);
- messaging accounts only in their context: after QQ/qq/扣扣/Q号 a QQ number (5-11 digits, no leading 0), after
  微信/加微信/加V/+V/vx/wx/微信号 (and the usual homophones 威信, 薇信, V信) a WeChat id
  (a letter, then 5-19 letters, digits, ``_`` or ``-``; one of letters only is taken only after 加/+ (加微信
  abc), 号, 是 or a colon, so that 微信 WeChat is not an id) or a number; ``wxid_...`` anywhere. A QQ group (QQ群)
  is a group, not a person, and is not masked. A mobile number is ``<电话>`` whatever context it stands in
  (加V13812345678).

Everywhere: a number inside a longer number is never masked (no digit, and no digit joined by ``-`` or ``.``,
before or after it; no letter before it, which keeps model numbers and ids such as SN13812345678 out), nor one
after a currency sign or before a unit of quantity (元, 万, 件, 人, %, ...): that is a price or a count.
Full-width digits, letters and separators (１３８－１２３４, ＱＱ：, ＠) are read as their ASCII forms through one
character-for-character table, so offsets are those of the text given: the step works on raw text (kept columns,
through ``mask_only``) as well as after ``normalize``, which already turns full-width digits and letters to ASCII
but keeps full-width punctuation (：，－＠) as it is.

URLs are not masked inside: a URL names a page (its digits are post, product and photo ids that often have the
shape of a phone or card number); the ``boilerplate`` step deletes URLs from captions anyway. The exception is a
query value whose key names personal data (``?phone=...``, ``&email=...``, ``&qq=...``): that is masked (kept URL
columns are masked with the caption steps).

Mobile numbers written in Chinese numerals (一三八一二三四五六七八; 幺 for 1, 〇 and 零 for 0: the usual way round
a filter on digits) are read through a second one-for-one table; nothing else is, because a run of numerals is a
date or a count far more often. What is not found: numbers split by words (138 一二 ...), landlines, IDs and
cards in Chinese numerals, e-mail addresses with non-ASCII parts or written out (abc at qq dot com), IDs of other
countries, and accounts of other services.
"""
from __future__ import annotations

import datetime
import re
from typing import NamedTuple

from tuwen.transforms.text import (ACCOUNT_TOKEN, CARD_TOKEN, EMAIL_TOKEN, ID_TOKEN, PHONE_TOKEN, URL_RE,
                                   EditedText, Replacement)

PHONE, ID_CARD, EMAIL, BANK_CARD, ACCOUNT = "phone", "id_card", "email", "bank_card", "account"
KINDS = (PHONE, ID_CARD, EMAIL, BANK_CARD, ACCOUNT)
TOKENS = {PHONE: PHONE_TOKEN, ID_CARD: ID_TOKEN, EMAIL: EMAIL_TOKEN, BANK_CARD: CARD_TOKEN, ACCOUNT: ACCOUNT_TOKEN}
PII_TOKENS = tuple(TOKENS[k] for k in KINDS)

# Where spans of different kinds overlap, the longer span wins, then the earlier kind here (an e-mail holding a QQ
# number is an e-mail; an 18-digit valid ID and card is an ID unless a card word is before it).
PRIORITY = (EMAIL, ID_CARD, BANK_CARD, PHONE, ACCOUNT)

CONTEXT_WINDOW = 12  # characters before a span searched for a phone, ID, card or order word (the word ends there)
PROVINCE_CODES = frozenset({
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54,
    61, 62, 63, 64, 65, 71, 81, 82, 83,  # 71 Taiwan, 81 Hong Kong, 82 Macau, 83 Taiwan residents' permits
})
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643-1999, ISO 7064 MOD 11-2
ID_CHECK_CHARS = "10X98765432"  # indexed by the weighted sum mod 11
# Issuer prefixes and the lengths their cards have: (prefix regex, lengths).
CARD_NETWORKS = (
    (r"62", range(16, 20)),  # UnionPay
    (r"60|955", range(16, 20)),  # Chinese banks' older prefixes (601382, 9558...), Discover 6011
    (r"4", (16, 19)),  # Visa
    (r"5[1-5]|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)", (16,)),  # Mastercard
    (r"35(?:2[89]|[3-8]\d)", range(16, 20)),  # JCB
    (r"65", range(16, 20)),  # Discover
)
_CARD_NETWORK_RES = tuple((re.compile(p), frozenset(lengths)) for p, lengths in CARD_NETWORKS)
EMAIL_NOT_TLDS = frozenset(
    "png jpg jpeg gif webp bmp svg ico tif tiff heic mp4 mov avi mkv mp3 wav pdf txt js css htm html php json xml "
    "zip rar gz apk exe doc docx xls xlsx ppt pptx".split())

# One character for one character: full-width ASCII forms, odd spaces and dashes to their ASCII form.
_FOLD = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_FOLD.update({c: ord(" ") for c in (0x3000, 0x00A0, 0x2002, 0x2003, 0x2009, 0x202F)})
_FOLD.update({c: ord("-") for c in (0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2212, 0xFE63)})
_FOLD_CHARS = frozenset(chr(c) for c in _FOLD)
_NUMERAL_FOLD = str.maketrans("〇零一二三四五六七八九幺", "001234567891")  # for mobile numbers only
_NUMERAL_MOBILE_RE = re.compile("[〇零一二三四五六七八九幺][〇零一二三四五六七八九幺 .-]{10}")
_DIGIT_RE = re.compile("[0-9]")

# -- the formats (all matched on the folded text; re.ASCII: \d is 0-9) --------------------------------------------
# Not inside a longer number or word: nothing alphanumeric before, nor a digit joined by - or .; currency signs
# make a price.
_BEFORE = r"(?<![0-9A-Za-z_¥￥$€£])(?<!\d[-.])"
_AFTER = r"(?![0-9])(?![-.]\d)"
_AFTER_GROUPED = r"(?![0-9])(?![-. ]\d)"  # a grouped number does not go on with another group
_AFTER_WORD = r"(?![0-9A-Za-z_])(?![-.]\d)"
_MOBILE = r"1(?:3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])"
_COUNTRY = r"(?:(?:\+|00)86[ -]?|\(\+?86\)[ -]?)"
_MOBILE_RE = re.compile(
    _BEFORE + _COUNTRY + "?" + _MOBILE
    + r"(?:\d{8}" + _AFTER + r"|[ .-]\d{4}[ .-]\d{4}" + _AFTER_GROUPED + r"|[ -]\d{8}" + _AFTER_GROUPED + ")", re.ASCII)
_SUBSCRIBER8 = r"(?:[2-9]\d{7}|[2-9]\d{3}[ -]\d{4})"
_SUBSCRIBER78 = r"(?:[2-9]\d{6,7}|[2-9]\d{2,3}[ -]\d{4})"
_EXTENSION = r"(?![0-9])(?:[ ]?(?:-|转|分机|ext\.?|x)[ ]?\d{1,5})?" + _AFTER  # -123 is an extension, -123456 not
_LANDLINE_RE = re.compile(
    _BEFORE + r"(?:"
    r"\(0(?:10|2\d)\)[ -]?" + _SUBSCRIBER8 + r"|0(?:10|2\d)[ -]?" + _SUBSCRIBER8
    + r"|\(0[3-9]\d\d\)[ -]?" + _SUBSCRIBER78 + r"|0[3-9]\d\d[ -]?" + _SUBSCRIBER78
    + "|" + _COUNTRY + r"(?:(?:10|2\d)[ -]?" + _SUBSCRIBER8 + r"|[3-9]\d\d[ -]?" + _SUBSCRIBER78 + ")"
    + r")" + _EXTENSION, re.IGNORECASE | re.ASCII)
_PHONE_WORDS = r"(?:电话|手机|座机|固话|联系方式|tel|phone|mobile)(?:号码|号)?"
# After a phone word: a subscriber number alone, or a mobile number glued to a letter (TEL13812345678).
_AFTER_PHONE_WORD_RE = re.compile(_PHONE_WORDS + r"[ ]?[:=]?[ ]?(?P<n>" + _MOBILE + r"\d{8}|" + _SUBSCRIBER78 + ")"
                                  + _EXTENSION, re.IGNORECASE | re.ASCII)
_ID18_RE = re.compile(_BEFORE + r"[1-9]\d{5}(?P<s>[ -])?(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
                      r"(?(s)(?P=s))\d{3}[0-9Xx]" + _AFTER_WORD + r"(?(s)(?! \d))", re.ASCII)
_ID15_RE = re.compile(_BEFORE + r"[1-9]\d{5}\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}" + _AFTER_WORD,
                      re.ASCII)
_CARD_RE = re.compile(_BEFORE + r"(?:\d{16,19}" + _AFTER_WORD
                      + r"|(?:\d{4}(?P<s>[ -])\d{4}(?P=s)\d{4}(?P=s)\d{4}(?:(?P=s)\d{1,3})?|\d{6}[ -]\d{10,13})"
                      + _AFTER_WORD + r"(?! \d))", re.ASCII)
_EMAIL_RE = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@"
                       r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+(?P<tld>[A-Za-z]{2,24})"
                       r"(?![A-Za-z0-9\-])(?!\.[A-Za-z0-9])")
_QQ_WORDS = r"(?<![A-Za-z])(?:qq|扣扣|q号)"
_WECHAT_WORDS = (r"(?:微信|加微|威信|薇信|徽信|v信|(?<![A-Za-z])(?:加|\+)v(?:x|信)?(?![A-Za-z])"
                 r"|(?<![A-Za-z])(?:vx|wx|weixin|wechat)(?![A-Za-z]))")
_ACCOUNT_RE = re.compile(
    r"(?:加|\+)?(?:" + _QQ_WORDS + "|" + _WECHAT_WORDS + r")(?:[/、](?:" + _QQ_WORDS + "|" + _WECHAT_WORDS + r"|同号))*"
    r"(?:号码|号)?[ ]?(?P<sep>(?:是|为)?[ ]?[:=]?)[ ]?"
    r"(?:(?P<num>[1-9]\d{4,10})" + _AFTER + r"|(?P<id>[A-Za-z][-_A-Za-z0-9]{5,19})(?![-_A-Za-z0-9@]))",
    re.IGNORECASE | re.ASCII)
_WXID_RE = re.compile(r"(?<![A-Za-z0-9_])wxid_[a-z0-9]{6,20}(?![A-Za-z0-9_])", re.IGNORECASE)
_NOT_AN_ID = frozenset({"wechat", "weixin"})
_ID_INTRODUCERS = frozenset("加+号是为:=")  # before a letters-only id: 加微信 abc, 微信号 abc, 微信：abc (not 微信 abc)

# -- context words, matched on the text just before a span (they end where it starts) ----------------------------
_ID_CONTEXT_RE = re.compile(r"(?:身份证|证件|身份号码|(?<![A-Za-z])id)(?:号码|号)?[ ]?(?:是|为)?[ ]?[:=]?[ ]?$",
                            re.IGNORECASE)
_CARD_CONTEXT_RE = re.compile(r"(?:卡号|银行卡|信用卡|储蓄卡|借记卡|工资卡|卡)(?:号码|号)?[ ]?(?:是|为)?[ ]?[:=]?[ ]?$")
_ORDER_CONTEXT_RE = re.compile(
    r"(?:订单|单号|运单|快递|物流|编号|流水号|交易号|合同号|发票号|条码|条形码|型号|货号|批号|序列号|工号|学号|车次|航班"
    r"|(?<![A-Za-z])(?:order|sn|s/n|isbn))(?:号码|号)?[ ]?[:=#]?[ ]?$", re.IGNORECASE)
_UNIT_AFTER_RE = re.compile(r"[ ]?(?:[元块角万亿件个次人条张份台辆套岁斤克米秒%‰]|美元|千米|公里|分钟|小时)")
_PERSONAL_QUERY_RE = re.compile(
    r"[?&#;](?:phone|mobile|tel|mob|cell|email|mail|qq|wx|wechat|weixin|idcard|id_card|idno|card|cardno|card_no"
    r"|account)=$", re.IGNORECASE)
_CHEAP_SKIP_RE = re.compile(r"[0-9@]|wxid_|微|信|v|wx|qq|扣扣|" + _NUMERAL_MOBILE_RE.pattern,
                            re.IGNORECASE)  # nothing to find without one of these


class PiiSpan(NamedTuple):
    """``text[start:end]`` is personal data of ``kind`` (one of :data:`KINDS`)."""

    start: int
    end: int
    kind: str


def fold(text: str) -> str:
    """``text`` with full-width ASCII forms, odd spaces and dashes as their ASCII forms, character for character."""
    return text.translate(_FOLD) if not _FOLD_CHARS.isdisjoint(text) else text


def id_check_char(first17: str) -> str:
    """The GB 11643 check character of an ID card's first 17 digits."""
    return ID_CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11]


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _real_date(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def valid_id18(chars: str) -> bool:
    """An 18-character ID card number (no separators): province, birth date and check character."""
    return (int(chars[:2]) in PROVINCE_CODES and _real_date(int(chars[6:10]), int(chars[10:12]), int(chars[12:14]))
            and chars[17].upper() == id_check_char(chars[:17]))


def valid_id15(digits: str) -> bool:
    """A 15-digit (pre-1999) ID card number: province and a 19xx birth date (it has no check digit)."""
    return (int(digits[:2]) in PROVINCE_CODES
            and _real_date(1900 + int(digits[6:8]), int(digits[8:10]), int(digits[10:12])))


def valid_card(digits: str) -> bool:
    """A bank card number (no separators): an issuer prefix of :data:`CARD_NETWORKS` with one of its lengths, and
    a right Luhn digit."""
    return (any(prefix.match(digits) and len(digits) in lengths for prefix, lengths in _CARD_NETWORK_RES)
            and luhn_ok(digits))


def id_shaped(chars: str) -> bool:
    """18 characters with an ID card's province and birth date, whatever the check character: a mistyped ID or
    some other id, more likely than an 18-digit card (cards have 16 or 19 digits but for a few UnionPay ones)."""
    return (len(chars) == 18 and int(chars[:2]) in PROVINCE_CODES
            and _real_date(int(chars[6:10]), int(chars[10:12]), int(chars[12:14])))


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit() or c in "Xx")


class MaskPersonalData:
    """The ``pii`` step: each phone number, ID card number, e-mail address, bank card number and messaging account
    becomes the placeholder of its kind (:data:`TOKENS`)."""

    name = "pii"

    def find(self, text: str) -> list[Replacement]:
        return [Replacement(s.start, s.end, TOKENS[s.kind]) for s in self.spans(text)]

    def mask(self, text: str) -> str:
        """``text`` with its personal data masked."""
        edited = EditedText(text)
        edited.apply(self.name, self.find(text))
        return edited.text

    def spans(self, text: str) -> list[PiiSpan]:
        """The personal data in ``text``, non-overlapping, in text order."""
        folded = fold(text)
        if not _CHEAP_SKIP_RE.search(folded):
            return []
        found = _candidates(folded)
        if not found:
            return []
        urls = [m.span() for m in URL_RE.finditer(text)]
        if urls:
            found = [c for c in found if not _inside_url(folded, c, urls)]
        return _resolve(folded, found)


# -- finding --------------------------------------------------------------------------------------------------------

def _before(folded: str, start: int) -> str:
    return folded[max(0, start - CONTEXT_WINDOW):start]


def _a_number_of_something(folded: str, start: int, end: int) -> bool:
    """A price, a count or an id: an order word before it, or a unit of quantity after it."""
    return (_ORDER_CONTEXT_RE.search(_before(folded, start)) is not None
            or _UNIT_AFTER_RE.match(folded, end) is not None)


def _candidates(folded: str) -> list[PiiSpan]:
    out = [c for c in _numbers(folded) if not _a_number_of_something(folded, c.start, c.end)]
    if "@" in folded:
        out += [PiiSpan(m.start(), m.end(), EMAIL) for m in _EMAIL_RE.finditer(folded)
                if m.group("tld").lower() not in EMAIL_NOT_TLDS]
    out += _accounts(folded)
    return out


def _numbers(folded: str) -> list[PiiSpan]:
    """Phone, ID card and bank card numbers, by their formats and check digits (before the order/unit filter)."""
    out: list[PiiSpan] = []
    if _NUMERAL_MOBILE_RE.search(folded):
        out += [PiiSpan(*m.span(), PHONE) for m in _MOBILE_RE.finditer(folded.translate(_NUMERAL_FOLD))]
    if not _DIGIT_RE.search(folded):
        return out
    out += [PiiSpan(*m.span(), PHONE) for m in _MOBILE_RE.finditer(folded)]
    out += [PiiSpan(*m.span(), PHONE) for m in _LANDLINE_RE.finditer(folded)]
    out += [PiiSpan(m.start("n"), m.end(), PHONE) for m in _AFTER_PHONE_WORD_RE.finditer(folded)]
    for m in _ID18_RE.finditer(folded):
        chars = _digits(m.group())
        if valid_id18(chars) or (id_shaped(chars) and _ID_CONTEXT_RE.search(_before(folded, m.start()))):
            out.append(PiiSpan(*m.span(), ID_CARD))
    out += [PiiSpan(*m.span(), ID_CARD) for m in _ID15_RE.finditer(folded)
            if valid_id15(m.group()) and _ID_CONTEXT_RE.search(_before(folded, m.start()))]
    for m in _CARD_RE.finditer(folded):
        number = _digits(m.group())
        if valid_card(number) and (not id_shaped(number) or _CARD_CONTEXT_RE.search(_before(folded, m.start()))):
            out.append(PiiSpan(*m.span(), BANK_CARD))
    return out


def _accounts(folded: str) -> list[PiiSpan]:
    """QQ numbers and WeChat ids after their words, and wxid_ ids anywhere (a mobile number there is a phone)."""
    out: list[PiiSpan] = []
    for m in _ACCOUNT_RE.finditer(folded):
        num, ident = m.group("num"), m.group("id")
        if num is not None:
            if _UNIT_AFTER_RE.match(folded, m.end()) is None:  # 微信 30000 人: a count
                out.append(PiiSpan(*m.span("num"), PHONE if _MOBILE_RE.fullmatch(num) else ACCOUNT))
        elif ident.lower() not in _NOT_AN_ID and (any(c in "0123456789_-" for c in ident)
                                                   or not _ID_INTRODUCERS.isdisjoint(folded[m.start():m.start("id")])):
            out.append(PiiSpan(*m.span("id"), ACCOUNT))
    out += [PiiSpan(*m.span(), ACCOUNT) for m in _WXID_RE.finditer(folded)]
    return out


def _inside_url(folded: str, span: PiiSpan, urls: list[tuple[int, int]]) -> bool:
    """Inside a URL and not the value of a query key that names personal data."""
    for us, ue in urls:
        if us <= span.start < ue:
            return _PERSONAL_QUERY_RE.search(folded, us, span.start) is None
    return False


def _resolve(folded: str, found: list[PiiSpan]) -> list[PiiSpan]:
    """Non-overlapping spans: the longest first, then by :data:`PRIORITY` (a card word before an 18-digit number
    that is a valid ID and a valid card makes it a card)."""
    def rank(c: PiiSpan):
        order = PRIORITY.index(c.kind)
        if c.kind == BANK_CARD and _CARD_CONTEXT_RE.search(_before(folded, c.start)):
            order = -1
        return (-(c.end - c.start), order, c.start)

    kept: list[PiiSpan] = []
    for c in sorted(set(found), key=rank):
        if all(c.end <= k.start or k.end <= c.start for k in kept):
            kept.append(c)
    return sorted(kept)
