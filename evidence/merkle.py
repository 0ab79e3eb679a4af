"""The Merkle tree of RFC 9162 (Certificate Transparency 2.0, section 2.1): hashes, inclusion and
consistency proofs and their verification. Pure: bytes in, bytes out.

* leaf hash ``SHA-256(0x00 || leaf)``, node hash ``SHA-256(0x01 || left || right)``, the empty
  tree's hash ``SHA-256()``; a tree of ``n`` leaves splits at the largest power of two below ``n``;
* :meth:`Tree.inclusion_proof` is ``PATH(m, D[n])`` (2.1.3.1), :meth:`Tree.consistency_proof`
  ``PROOF(m, D[n])`` (2.1.4.1); :func:`verify_inclusion` and :func:`verify_consistency` are the
  verification algorithms of 2.1.3.2 and 2.1.4.2, with the edge cases of transparency-dev/merkle
  (a consistency proof from the empty tree proves nothing and is refused).

``tests/evidence/test_merkle.py`` checks all of it against the Certificate Transparency test
vectors, transparency-dev/merkle's published probes and the ``pymerkle`` library.
``tools/verify_evidence_report.py`` carries its own copy of the two verifications (it must run
with the standard library alone); the same tests run on both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): where RFC 9162 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


class Tree:
    """A tree over leaf hashes, with every complete subtree's hash kept (one list per level), so
    that the root of any prefix and any proof costs O(log n) lookups and hashes."""

    def __init__(self, leaf_hashes: Sequence[bytes]):
        level = list(leaf_hashes)
        self.levels: list[list[bytes]] = [level]
        while len(level) > 1:
            level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            self.levels.append(level)

    @classmethod
    def of_leaves(cls, leaves: Sequence[bytes]) -> Tree:
        return cls([leaf_hash(x) for x in leaves])

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def leaf(self, index: int) -> bytes:
        return self.levels[0][index]

    def root(self, size: int | None = None) -> bytes:
        """MTH(D[0:size]) (the whole tree by default)."""
        size = self.size if size is None else size
        self._check_size(size)
        return self._hash(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]): the audit path of leaf ``index`` in the tree of ``size`` leaves."""
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size}")
        proof: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:  # walk down, collecting the sibling subtrees (root side first)
            k = split_point(hi - lo)
            if index < lo + k:
                proof.append(self._hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._hash(lo, lo + k))
                lo += k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:size]): shows the tree of ``old_size`` leaves is a prefix of this one."""
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 < old_size <= size:
            raise ValueError(f"no consistency proof from {old_size} to {size}")
        proof: list[bytes] = []
        lo, hi, m, whole = 0, size, old_size, True
        while m != hi - lo:  # SUBPROOF(m, D[lo:hi], whole), unrolled
            k = split_point(hi - lo)
            if m <= k:
                proof.append(self._hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._hash(lo, lo + k))
                lo, m, whole = lo + k, m - k, False
        if not whole:
            proof.append(self._hash(lo, hi))
        proof.reverse()
        return proof

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"a tree of {self.size} leaves has no prefix of {size}")

    def _hash(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for the ranges the RFC's recursion visits (``lo`` a multiple of a power
        of two at least as large as the range's left part)."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            return self.levels[n.bit_length() - 1][lo // n]
        k = split_point(n)
        return node_hash(self._hash(lo, lo + k), self._hash(lo + k, hi))


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes | None:
    """The root that ``proof`` gives for leaf hash ``leaf`` at ``index`` (RFC 9162 2.1.3.2), or
    None when the proof cannot be one for that position."""
    if not 0 <= index < size or len(leaf) != HASH_SIZE:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    return root_from_inclusion_proof(index, size, leaf, proof) == root


def verify_consistency(old_size: int, size: int, old_root: bytes, root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` shows the tree ``(old_size, old_root)`` is a prefix of ``(size, root)``
    (RFC 9162 2.1.4.2)."""
    if size < old_size or old_size == 0:
        return False
    if old_size == size:
        return not proof and old_root == root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # the old tree is a complete subtree: its root starts the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == root
