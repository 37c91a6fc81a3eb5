"""dominant_script: which writing system most letters are in, ignoring digits and punctuation."""

from shopgraph.search.script import dominant_script, script_words, unread_word_share


def test_chinese_titles_with_latin_brands_are_han():
    got = dominant_script(["飞利浦 qc 5510 剃须刀", "连衣裙 女 夏季", "三只松鼠 花草茶"])
    assert got.script == "Han" and got.share > 0.7 and got.needs_multilingual


def test_english_and_full_width_latin_are_latin():
    got = dominant_script(["Samsung Galaxy S21 128GB", "ＡＢＣ headphones"])
    assert (got.script, got.share) == ("Latin", 1.0) and not got.needs_multilingual


def test_other_scripts_are_named():
    assert dominant_script("Книга про кота").script == "Cyrillic"
    assert dominant_script("كتاب").script == "Arabic"
    assert dominant_script("ヘッドホン").script == "Katakana"


def test_no_letters_means_no_script():
    got = dominant_script(["12345", "!!", ""])
    assert got.script is None and got.share == 0.0 and got.letters == 0 and not got.needs_multilingual


def test_a_minority_script_does_not_switch_the_channel():
    got = dominant_script(["Philips shaver 飞利浦"])
    assert got.script == "Latin" and not got.needs_multilingual


def test_words_split_where_the_script_changes():
    assert script_words("nike短裤 2024") == [("nike", "Latin"), ("短裤", "Han")]
    assert script_words("café crème, 10 pcs") == [("café", "Latin"), ("crème", "Latin"), ("pcs", "Latin")]
    assert script_words("") == [] and script_words("123 - 45") == []


def test_unread_word_share_counts_words_not_letters():
    assert unread_word_share("philips 剃须刀") == 0.5
    assert unread_word_share("Philips shaver 飞利浦") == 1 / 3
    assert unread_word_share("red dress") == 0.0 and unread_word_share("1234") == 0.0
    assert unread_word_share("हिन्दी किताब") == 1.0  # combining vowel signs stay inside their word
