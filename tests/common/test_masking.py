import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.masking import LABELS, Hit, mask, scan
from common.mynumber import find_my_numbers, my_number_check_digit

VALID = "123456789018"
INVALID = "123456789012"
TO_FULL = str.maketrans("0123456789-", "０１２３４５６７８９－")


def kinds(text):
    return [hit.kind for hit in scan(text)]


def grouped(number, sep):
    return sep.join((number[:4], number[4:8], number[8:]))


# --- 個人番号 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        VALID,
        grouped(VALID, "-"),
        grouped(VALID, " "),
        grouped(VALID, "　"),
        grouped(VALID, " - "),
        VALID.translate(TO_FULL),
        grouped(VALID, "-").translate(TO_FULL),
    ],
)
def test_valid_my_number_is_masked_in_any_usual_form(written):
    result = mask(f"私の個人番号は{written}です。")
    assert result.text == f"私の個人番号は{LABELS['my_number']}です。"
    assert [(h.kind, h.text) for h in result.hits] == [("my_number", written)]


@pytest.mark.parametrize("written", [INVALID, grouped(INVALID, "-"), INVALID.translate(TO_FULL)])
def test_twelve_digits_with_a_wrong_check_digit_are_left(written):
    text = f"受付番号{written}について"
    assert mask(text).text == text
    assert scan(text) == []


def test_my_number_inside_a_longer_run_of_digits_is_still_masked():
    assert mask(f"5{VALID}7").text == f"5{LABELS['my_number']}7"
    assert mask(f"99{grouped(VALID, '-')}").text == f"99{LABELS['my_number']}"


def test_my_number_inside_an_email_address_gives_one_merged_hit():
    hits = scan(f"{VALID}@example.jp")
    assert hits == [Hit("my_number", 0, len(VALID) + 11, f"{VALID}@example.jp")]


# --- 電話番号 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "011-211-2111",
        "011(211)2111",
        "011（211）2111",
        "(011)211-2111",
        "011 211 2111",
        "0112112111",
        "03-1234-5678",
        "03-12345678",
        "090-1234-5678",
        "09012345678",
        "050-1234-5678",
        "0120-123-456",
        "0800-123-4567",
        "0570-000-123",
        "+81-11-211-2111",
        "+81 90 1234 5678",
        "+81(0)11-211-2111",
        "＋８１－９０－１２３４－５６７８",
        "０１１－２１１－２１１１",
        "011ー211ー2111",
    ],
)
def test_phone_numbers(phone):
    result = mask(f"連絡先は{phone}（平日9時～17時）です。")
    assert result.text == f"連絡先は{LABELS['phone']}（平日9時～17時）です。"
    assert [h.text for h in result.hits] == [phone]


@pytest.mark.parametrize(
    "text",
    [
        "令和7年11月12日から意見を募集し、2025-11-12に公表した。",
        "2025/11/12 09:00-17:00 受付",
        "提出者数は1,000人、意見総数は10件でした。",
        "番号法第19条第8号及び主務省令第2条の表の1、2、3、5、7、11の項",
        "予算は12,345,678円です。",
        "平成31年4月30日",
        "〒060-8611",
        "12-3456-7890",
        "0011-211-2111",
        "011-211-21",
        "090-1234-56789",
    ],
)
def test_not_phone_numbers(text):
    assert "phone" not in kinds(text)


# --- メールアドレス ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["taro.yamada@example.co.jp", "hanako+pia@city.example.lg.jp", "taro＠example.jp", "taro(at)example.jp"],
)
def test_email_addresses(address):
    result = mask(f"返信は{address}へお願いします。")
    assert result.text == f"返信は{LABELS['email']}へお願いします。"


def test_web_address_is_not_an_email():
    text = "http://www.city.sapporo.jp/shimin/koseki/mynumber/pia.html"
    assert scan(text) == []


# --- 住所 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "札幌市中央区北1条西2丁目1番1号",
        "北海道札幌市北区北8条西3丁目",
        "東京都千代田区霞が関1-2-3",
        "東京都千代田区霞が関一丁目2番3号",
        "札幌市中央区北１条西２丁目",
        "さいたま市浦和区高砂3-15-1",
        "北海道石狩郡当別町白樺町58番地9",
        "〒060-8611 札幌市中央区北1条西2丁目1番1号",
    ],
)
def test_addresses(address):
    result = mask(f"私は{address}に住んでいます。")
    assert result.text == f"私は{LABELS['address']}に住んでいます。"
    assert [(h.kind, h.text) for h in result.hits] == [("address", address)]


def test_label_word_before_an_address_is_kept():
    assert mask("住所札幌市中央区北1条西2丁目1番1号").text == f"住所{LABELS['address']}"
    assert mask("現住所：北海道札幌市北区北8条西3丁目").text == f"現住所：{LABELS['address']}"
    assert mask("書類の送付先札幌市中央区北1条西2丁目").text == f"書類の送付先{LABELS['address']}"


@pytest.mark.parametrize(
    "text",
    [
        "札幌市では、住民基本台帳事務の評価書案について意見を募集しました。",
        "中央区の住民は1,000人です。",
        "各区役所総務企画課（広聴係）",
        "札幌市個人情報保護条例第3条に基づき",
        "中央区役所の3番窓口で受け付けます。",
        "札幌市は令和7年11月12日から12月11日まで意見を募集した。",
        "東京都と札幌市の2団体",
    ],
)
def test_place_names_in_prose_are_not_addresses(text):
    assert scan(text) == []


# --- the whole ------------------------------------------------------------------------


def test_reference_004_has_nothing_to_mask():
    from pathlib import Path

    reference = next(Path("/work/shared/reference").glob("004_*.txt"), None)
    if reference is None:
        pytest.skip("reference documents not available")
    assert scan(reference.read_text(encoding="utf-8")) == []


def test_a_submission_with_everything():
    text = (
        "山田太郎（札幌市中央区北1条西2丁目1番1号、電話011-211-2111、"
        f"taro@example.jp、個人番号{grouped(VALID, '-')}）\n評価書案に反対します。"
    )
    result = mask(text)
    assert [h.kind for h in result.hits] == ["address", "phone", "email", "my_number"]
    assert result.text == (
        "山田太郎（［住所］、電話［電話番号］、［メールアドレス］、個人番号［個人番号］）\n評価書案に反対します。"
    )
    assert result.masked


def test_empty_and_none():
    assert mask("").text == ""
    assert mask(None).hits == []
    assert not mask("意見はありません。").masked


@st.composite
def valid_my_numbers(draw):
    first11 = f"{draw(st.integers(0, 10**11 - 1)):011d}"
    number = first11 + str(my_number_check_digit(first11))
    form = draw(st.sampled_from(["plain", "-", " ", "　", "－"]))
    written = number if form == "plain" else grouped(number, form)
    if draw(st.booleans()):
        written = written.translate(TO_FULL)
    return written


@settings(max_examples=300)
@given(st.text(), st.text(), valid_my_numbers())
def test_every_valid_my_number_is_removed_whatever_surrounds_it(before, after, written):
    masked = mask(before + written + after).text
    assert written not in masked
    assert find_my_numbers(masked) == []


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(codec="utf-8")))
def test_masking_never_crashes_and_hits_are_ordered_and_disjoint(text):
    result = mask(text)
    previous_end = 0
    for hit in result.hits:
        assert previous_end <= hit.start < hit.end <= len(text)
        assert text[hit.start : hit.end] == hit.text
        assert hit.kind in LABELS
        previous_end = hit.end
    assert find_my_numbers(result.text) == []


@given(st.text(alphabet="0123456789０１２３４５６７８９-－ 　市区町村北条丁目番号@.a", max_size=60))
def test_masking_digit_heavy_text_never_leaves_a_my_number(text):
    assert find_my_numbers(mask(text).text) == []
