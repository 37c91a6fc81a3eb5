"""Index terms: model numbers kept whole, scripts without spaces as character n-grams."""

from shopgraph.search.analysis import identifier_key, model_numbers, terms


def test_model_number_written_three_ways_has_one_key():
    assert identifier_key("WM-330S") == identifier_key("wm330s") == identifier_key("WM 330 S") == "wm330s"
    assert identifier_key("ＷＭ－３３０Ｓ") == "wm330s"  # full-width forms fold too


def test_model_numbers_are_indexed_whole_and_in_parts():
    got = terms("Sony WM-330S Walkman")
    assert {"sony", "wm", "330s", "wm330s", "walkman"} <= set(got)
    assert model_numbers("Samsung SM-G991B 128GB") == ["smg991b"]  # a quantity is not a model number


def test_model_number_next_to_chinese_stays_whole():
    assert "ksr100725" in terms("欧达可.ksr10-07-25编码开关")
    assert model_numbers("欧达可.ksr10-07-25编码开关") == ["ksr100725"]


def test_neighbours_are_joined_only_across_spaces():
    assert "smg991b" in model_numbers("sm g991b")
    # "otax" and "ksr10" are separated by Chinese words: not one model number
    assert model_numbers("otax.欧达可.ksr10") == ["ksr10"]
    # letters inside a word with accents are not an ASCII token
    assert model_numbers("Crème WM-330S") == ["wm330s"]


def test_chinese_is_indexed_as_unigrams_and_bigrams():
    got = terms("连衣裙女")
    assert set(got) == {"连", "衣", "裙", "女", "连衣", "衣裙", "裙女"}
    assert set(terms("连衣裙女", unigrams=False)) == {"连衣", "衣裙", "裙女"}
    assert terms("鞋", unigrams=False) == ["鞋"]  # a one-character word is still a term


def test_words_with_combining_marks_stay_whole():
    assert terms("हिन्दी किताब") == ["हिन्दी", "किताब"]


def test_long_text_is_capped_and_empty_text_has_no_terms():
    assert len(terms("word " * 10000, limit=100)) == 100
    assert terms("") == [] and terms(" ,;- ") == []


def test_ascii_texts_tokenize_the_same_with_the_stdlib_pattern():
    """terms and model_numbers read an all-ASCII text with stdlib patterns (faster); it must find exactly
    the words and tokens the Unicode patterns find, edges included (punctuation, underscores, separators at
    the ends, tokens glued to capitals before casefolding)."""
    from shopgraph.ingest.encoders.lexical import normalize
    from shopgraph.search.analysis import _ASCII_TOKEN, _ASCII_TOKEN_IN_ASCII, _WORD, _WORD_IN_ASCII

    texts = ["Sony WM-330S Walkman", "usb-c 3.1 gen_2 cable/2m", "a-b.c/d- -e .f. g..h", "x_1 _y2_ 3z_",
             "rtx 3080 ti 10 gb, (sm g991b)", "100% 5'' 12\"x4 #7a @b8 ~c9", "", "---", "a" * 50 + "9",
             "ABC123def", "1.2.3-4/5x", "tab\tsep\nnew line 7x"]
    for text in texts:
        norm = normalize(text)
        assert norm.isascii()
        assert [m.span() for m in _ASCII_TOKEN_IN_ASCII.finditer(norm)] == [m.span() for m in _ASCII_TOKEN.finditer(norm)], text
        assert _WORD_IN_ASCII.findall(text) == _WORD.findall(text), text
