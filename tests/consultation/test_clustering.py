import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consultation.clustering import Cluster, cluster, normalise, shingles, similarity

TEMPLATE = (
    "住民基本台帳事務に関する特定個人情報保護評価書案について意見を述べます。"
    "ガバメントクラウドへの移行により、市が個人情報を管理できなくなることを懸念します。"
    "アクセス権限の管理と操作履歴の点検を徹底し、その結果を市民に公表してください。"
)


def test_normalise_unifies_width_and_drops_punctuation_and_spaces():
    assert normalise("ＡＢＣ　１２３、ｶﾀｶﾅ！") == "abc123カタカナ"
    assert normalise("評価書案に、反対です！") == normalise("評価書案に反対です")
    assert normalise(" 意見\n\tです。 ") == "意見です"
    assert normalise("") == ""


def test_shingles_are_character_trigrams():
    assert shingles("評価書案") == {"評価書", "価書案"}
    assert shingles("意見") == {"意見"}
    assert shingles("。") == frozenset()


def test_similarity():
    assert similarity(TEMPLATE, TEMPLATE) == 1.0
    assert similarity(TEMPLATE, TEMPLATE.replace("。", "．")) == 1.0
    assert similarity("評価書案に反対です", "マイナンバーカードの交付") == 0.0
    edited = "札幌市長様\n" + TEMPLATE
    assert 0.85 < similarity(TEMPLATE, edited) < 1.0
    assert similarity(TEMPLATE, edited) == similarity(edited, TEMPLATE)
    assert similarity("", "") == 1.0
    assert similarity("", "意見") == 0.0


def test_form_letters_are_grouped_and_singletons_left_out():
    items = [
        ("a", TEMPLATE),
        ("b", "反対です。"),
        ("c", "山田太郎です。" + TEMPLATE),
        ("d", TEMPLATE.replace("\n", "")),
        ("e", "個人番号カードの写真の取り違えについて、再発防止策を示してください。"),
        ("f", TEMPLATE + "以上"),
        ("g", TEMPLATE),
    ]
    [group] = cluster(items)
    assert group.keys == ["a", "c", "d", "f", "g"]
    assert group.representative_key == "a"  # the text sent most often, earliest first
    assert group.similarities["a"] == group.similarities["d"] == group.similarities["g"] == 1.0
    assert 0.85 <= group.similarities["c"] < 1.0
    assert len(group) == 5


def test_singletons_can_be_included():
    items = [("a", TEMPLATE), ("b", "反対です。"), ("c", TEMPLATE)]
    groups = cluster(items, include_singletons=True)
    assert [g.keys for g in groups] == [["a", "c"], ["b"]]
    assert groups[1] == Cluster(keys=["b"], representative_key="b", similarities={"b": 1.0})


def test_short_texts_do_not_chain_letters_together():
    other = "マイナ保険証への移行に伴う資格確認書の交付について、周知が不十分であると考えます。"
    items = [("a", TEMPLATE), ("b", "反対です"), ("c", other), ("d", other + "反対です")]
    assert [g.keys for g in cluster(items, threshold=0.5)] == [["c", "d"]]


def test_threshold_changes_what_counts_as_near():
    items = [("a", TEMPLATE), ("b", TEMPLATE[:70])]
    assert cluster(items, threshold=0.85) == []
    assert [g.keys for g in cluster(items, threshold=0.4)] == [["a", "b"]]


def test_groups_are_ordered_by_size_then_first_key():
    letter_b = "マイナ保険証への移行に伴う資格確認書の交付について、周知が不十分であると考えます。"
    items = [("x1", letter_b), ("t1", TEMPLATE), ("x2", letter_b), ("t2", TEMPLATE), ("t3", TEMPLATE)]
    assert [g.keys for g in cluster(items)] == [["t1", "t2", "t3"], ["x1", "x2"]]


def test_invalid_arguments():
    with pytest.raises(ValueError):
        cluster([("a", "x"), ("a", "y")])
    with pytest.raises(ValueError):
        cluster([("a", "x")], threshold=0)
    with pytest.raises(ValueError):
        cluster([("a", "x")], threshold=1.5)
    assert cluster([]) == []


def brute_force(items, threshold):
    """Single link over every pair: what cluster() must agree with."""
    n = len(items)
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for i in range(n):
        for j in range(i + 1, n):
            same = normalise(items[i][1]) == normalise(items[j][1])
            if same or similarity(items[i][1], items[j][1]) >= threshold:
                parent[find(j)] = find(i)
    groups = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(items[i][0])
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


# Small alphabets make near-duplicates frequent enough to exercise the candidate index.
texts = st.text(alphabet="評価書案意見反対です。、 ", min_size=0, max_size=14)


@settings(max_examples=200, deadline=None)
@given(st.lists(texts, max_size=25), st.sampled_from([0.5, 0.7, 0.85, 1.0]))
def test_agrees_with_brute_force_single_link(text_list, threshold):
    items = list(enumerate(text_list))
    assert sorted(sorted(g.keys) for g in cluster(items, threshold)) == brute_force(items, threshold)


@st.composite
def near_duplicates(draw):
    """A few base texts and copies with small edits, so that pairs sit near the threshold."""
    alphabet = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめも"
    bases = draw(st.lists(st.text(alphabet=alphabet, min_size=8, max_size=40), min_size=1, max_size=3))
    result = []
    for _ in range(draw(st.integers(2, 25))):
        text = list(draw(st.sampled_from(bases)))
        for _ in range(draw(st.integers(0, 3))):
            position = draw(st.integers(0, len(text)))
            edit = draw(st.sampled_from(["insert", "delete", "replace"]))
            if edit == "insert" or not text:
                text.insert(position, draw(st.sampled_from(alphabet)))
            elif edit == "delete":
                del text[min(position, len(text) - 1)]
            else:
                text[min(position, len(text) - 1)] = draw(st.sampled_from(alphabet))
        result.append("".join(text))
    return result


@settings(max_examples=300, deadline=None)
@given(near_duplicates(), st.sampled_from([0.5, 0.6, 0.7, 0.8, 0.85, 0.9]))
def test_near_duplicates_agree_with_brute_force_single_link(text_list, threshold):
    items = list(enumerate(text_list))
    assert sorted(sorted(g.keys) for g in cluster(items, threshold)) == brute_force(items, threshold)


@settings(max_examples=100, deadline=None)
@given(st.lists(texts, max_size=25), st.randoms(use_true_random=False))
def test_deterministic_and_identical_texts_together(text_list, rng):
    items = [(f"k{i}", t) for i, t in enumerate(text_list)]
    result = cluster(items)
    assert cluster(items) == result
    shuffled = items[:]
    rng.shuffle(shuffled)
    assert sorted(sorted(g.keys) for g in cluster(shuffled)) == sorted(sorted(g.keys) for g in result)
    group_of = {key: n for n, g in enumerate(result) for key in g.keys}
    for key_a, text_a in items:
        for key_b, text_b in items:
            if key_a != key_b and text_a == text_b:
                assert key_a in group_of and group_of[key_a] == group_of[key_b]


@pytest.mark.slow
def test_a_campaign_of_a_few_thousand_letters():
    rng = random.Random(7)
    names = ["山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村"]
    items = []
    for i in range(1500):
        letter = list(TEMPLATE)
        letter[rng.randrange(len(letter))] = "、"
        items.append((f"c{i}", rng.choice(names) + rng.choice(names) + "です。" + "".join(letter)))
    for i in range(500):
        items.append((f"u{i}", "".join(rng.choice(TEMPLATE) for _ in range(rng.randint(20, 200)))))
    rng.shuffle(items)
    groups = cluster(items)
    assert sorted(groups[0].keys) == sorted(f"c{i}" for i in range(1500))
    assert all(not key.startswith("c") for g in groups[1:] for key in g.keys)
