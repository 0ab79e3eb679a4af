"""Finding form letters: identical and near-identical submissions in a consultation.

Campaigns send the same text many times, sometimes with a greeting or a name changed.
The result report counts every submission but answers the shared text once, so staff
need the groups.

How texts are compared
    Texts are normalised (:func:`normalise`) and cut into overlapping character
    3-grams; Japanese has no spaces, so words are never used. Two texts are compared by
    the Jaccard index of their 3-gram sets. Containment (overlap divided by the smaller
    set) would also group a template with a copy that adds a paragraph, but it rates a
    short text such as 「反対です。」 as fully contained in any letter that says so, and
    with single-link grouping one such text would chain unrelated letters together.
    Jaccard is symmetric and penalises length differences, which keeps groups tight.

How groups are formed
    Texts equal after normalisation are grouped first (so identical texts are always
    together, even empty ones). The distinct texts are then joined by single link
    (union-find) when their Jaccard index reaches the threshold. Candidate pairs come
    from an inverted index over a prefix of each 3-gram set, ordered rarest first
    (prefix filtering, as in the AllPairs algorithm): two sets with Jaccard ≥ t must
    share one of these prefix 3-grams, so no pair is missed and most pairs are never
    looked at. Pairs already in the same group are not verified again, which keeps a
    large campaign of near-copies cheap.

Single link can chain: a member may be less similar to the representative than the
threshold. :attr:`Cluster.similarities` gives each member's similarity to the
representative so that such members can be shown and checked.

Singletons are left out of the result unless ``include_singletons=True``.
The result depends only on the input (no randomness, no hash seeds).
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

SHINGLE_SIZE = 3


@dataclass(frozen=True, slots=True)
class Cluster:
    keys: list  #: in input order
    representative_key: Hashable
    similarities: dict  #: key -> Jaccard similarity to the representative (1.0 for itself)

    def __len__(self) -> int:
        return len(self.keys)


def normalise(text: str) -> str:
    """NFKC (full and half width unified), lower case, and without whitespace,
    punctuation, symbols or control characters: 「評価書案に、反対です！」 and
    「評価書案に反対です」 normalise to the same string."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LNM")


def shingles(text: str) -> frozenset[str]:
    """Character 3-grams of the normalised text; a shorter text is its own shingle."""
    normalised = normalise(text)
    return _shingles_of_normalised(normalised)


def _shingles_of_normalised(normalised: str) -> frozenset[str]:
    if len(normalised) <= SHINGLE_SIZE:
        return frozenset([normalised]) if normalised else frozenset()
    return frozenset(normalised[i : i + SHINGLE_SIZE] for i in range(len(normalised) - SHINGLE_SIZE + 1))


def _jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def similarity(a: str, b: str) -> float:
    """Jaccard index of the character 3-grams of the normalised texts, 0.0 to 1.0."""
    return _jaccard(shingles(a), shingles(b))


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller index becomes the root, so results do not depend on order of calls.
            self.parent[max(ra, rb)] = min(ra, rb)


def _rekey(buckets: dict[int, list[int]], groups: _UnionFind) -> None:
    for root in list(buckets):
        current = groups.find(root)
        if current == root:
            continue
        moved = buckets.pop(root)
        existing = buckets.get(current)
        if existing is None:
            buckets[current] = moved
        elif len(existing) >= len(moved):
            existing.extend(moved)
        else:
            moved.extend(existing)
            buckets[current] = moved


def cluster(
    items: Sequence[tuple[Hashable, str]],
    threshold: float = 0.85,
    *,
    include_singletons: bool = False,
) -> list[Cluster]:
    """Group ``(key, text)`` items whose texts are identical or near-identical.

    Groups come largest first, then in the order of their first key. The representative
    is a text shared by the most members (the template), the earliest on a tie.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be in (0, 1]")
    keys = [key for key, _ in items]
    if len(set(keys)) != len(keys):
        raise ValueError("keys must be unique")

    # 1. Identical after normalisation.
    distinct: dict[str, int] = {}
    members_of: list[list[int]] = []  # distinct text -> item positions
    for position, (_, text) in enumerate(items):
        normalised = normalise(text)
        if normalised not in distinct:
            distinct[normalised] = len(members_of)
            members_of.append([])
        members_of[distinct[normalised]].append(position)
    texts = list(distinct)
    sets = [_shingles_of_normalised(t) for t in texts]

    # 2. Near-identical: prefix filtering over 3-grams ordered rarest first.
    groups = _UnionFind(len(texts))
    frequency = Counter(g for s in sets for g in s)
    ordered = [sorted(s, key=lambda g: (frequency[g], g)) for s in sets]
    # Each posting list is kept by group: {group root: [text ids]}, re-keyed lazily after
    # unions, so that a text can skip a whole group it already belongs to in one step.
    index: dict[str, dict[int, list[int]]] = defaultdict(dict)
    for i in sorted(range(len(texts)), key=lambda i: (len(sets[i]), i)):
        size = len(sets[i])
        if size == 0:
            continue
        prefix = ordered[i][: size - math.ceil(threshold * size - 1e-9) + 1]
        checked: set[int] = set()
        for g in prefix:
            buckets = index[g]
            _rekey(buckets, groups)
            for root, members in buckets.items():
                if root == groups.find(i):
                    continue
                for j in members:
                    if j in checked:
                        continue
                    checked.add(j)
                    # |j| <= |i|, so the Jaccard index is at most |j| / |i|.
                    if len(sets[j]) >= threshold * size - 1e-9 and _jaccard(sets[i], sets[j]) >= threshold:
                        groups.union(i, j)
                        break
        root = groups.find(i)
        for g in prefix:
            index[g].setdefault(root, []).append(i)

    # 3. Collect.
    by_root: dict[int, list[int]] = defaultdict(list)
    for i in range(len(texts)):
        by_root[groups.find(i)].append(i)
    result = []
    for text_ids in by_root.values():
        positions = sorted(p for t in text_ids for p in members_of[t])
        if len(positions) < 2 and not include_singletons:
            continue
        template = min(text_ids, key=lambda t: (-len(members_of[t]), members_of[t][0]))
        representative = items[members_of[template][0]][0]
        similarities = {}
        for t in text_ids:
            score = 1.0 if t == template else _jaccard(sets[t], sets[template])
            for p in members_of[t]:
                similarities[items[p][0]] = score
        result.append(
            Cluster(
                keys=[items[p][0] for p in positions],
                representative_key=representative,
                similarities={items[p][0]: similarities[items[p][0]] for p in positions},
            )
        )
    positions_of = {key: p for p, key in enumerate(keys)}
    result.sort(key=lambda c: (-len(c.keys), positions_of[c.keys[0]]))
    return result
