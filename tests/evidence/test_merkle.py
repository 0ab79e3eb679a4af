"""The RFC 9162 tree (evidence.merkle) and the standalone verifier's copy of its verification,
against published test vectors and the pymerkle library.

Sources of the vectors:

* Certificate Transparency's reference tree of eight leaves, its roots, audit paths and
  consistency proofs: google/certificate-transparency, cpp/merkletree/merkle_tree_test.cc
  (``kInputs``, ``kSHA256Roots``, ``kSHA256Paths``, ``kSHA256Proofs``) at commit
  0fe5116f42890853e9fcf5120f1f5129d64f64ea; the hasher's vectors from transparency-dev/merkle,
  rfc6962/rfc6962_test.go.
* transparency-dev/merkle's verification probes (testdata/inclusion, testdata/consistency: a
  proof each, and its corruptions that must fail), copied unchanged into
  ``data/transparency_dev_merkle_probes.json`` from commit
  417fb0c314750d94e53942e9f92e79b6d35915db (Apache-2.0).
* The accumulated subtree vectors of draft-ietf-plants-merkle-tree-certs, as
  transparency-dev/merkle testonly/vectors_test.go checks them (a rolling SHA-256 over every
  subtree hash and every subtree inclusion proof of a 130-leaf tree).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

from evidence import merkle

ROOT = Path(__file__).resolve().parents[2]
PROBES = json.loads((Path(__file__).parent / "data" / "transparency_dev_merkle_probes.json").read_text())


def _standalone():
    spec = importlib.util.spec_from_file_location(
        "verify_evidence_report", ROOT / "tools" / "verify_evidence_report.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STANDALONE = _standalone()
#: the two implementations of verification: the application's and the standalone verifier's
VERIFIERS = {"evidence.merkle": merkle, "tools/verify_evidence_report.py": STANDALONE}

CT_INPUTS = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657")] + [
    bytes.fromhex("606162636465666768696a6b6c6d6e6f")
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
#: (leaf, snapshot, path): kSHA256Paths, whose leaf numbers count from one
CT_PATHS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
#: (snapshot1, snapshot2, proof): kSHA256Proofs
CT_PROOFS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


def test_hashes_are_rfc6962s():
    assert merkle.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert merkle.leaf_hash(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert (
        merkle.node_hash(b"N123", b"N456").hex() == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_roots_of_the_reference_tree():
    tree = merkle.Tree.of_leaves(CT_INPUTS)
    assert tree.root(0) == merkle.EMPTY_ROOT
    assert [tree.root(n).hex() for n in range(1, 9)] == CT_ROOTS
    for n in range(1, 9):  # a tree of the first n leaves alone gives the same root
        assert merkle.Tree.of_leaves(CT_INPUTS[:n]).root().hex() == CT_ROOTS[n - 1]


@pytest.mark.parametrize("leaf, size, path", CT_PATHS)
def test_audit_paths_of_the_reference_tree(leaf, size, path):
    tree = merkle.Tree.of_leaves(CT_INPUTS)
    proof = tree.inclusion_proof(leaf - 1, size)
    assert [h.hex() for h in proof] == path
    for verifier in VERIFIERS.values():
        assert verifier.verify_inclusion(leaf - 1, size, tree.leaf(leaf - 1), proof, tree.root(size))


@pytest.mark.parametrize("first, second, path", CT_PROOFS)
def test_consistency_proofs_of_the_reference_tree(first, second, path):
    tree = merkle.Tree.of_leaves(CT_INPUTS)
    proof = tree.consistency_proof(first, second)
    assert [h.hex() for h in proof] == path
    for verifier in VERIFIERS.values():
        assert verifier.verify_consistency(first, second, tree.root(first), tree.root(second), proof)


def _b64(values):
    return [base64.b64decode(v) for v in values]


@pytest.mark.parametrize("name", VERIFIERS)
@pytest.mark.parametrize("probe", PROBES["inclusion"], ids=lambda p: p["file"].removeprefix("testdata/"))
def test_transparency_dev_inclusion_probes(name, probe):
    got = VERIFIERS[name].verify_inclusion(
        probe["leafIdx"],
        probe["treeSize"],
        base64.b64decode(probe["leafHash"] or ""),
        _b64(probe["proof"] or []),
        base64.b64decode(probe["root"] or ""),
    )
    assert got is not probe["wantErr"], probe["desc"]


@pytest.mark.parametrize("name", VERIFIERS)
@pytest.mark.parametrize("probe", PROBES["consistency"], ids=lambda p: p["file"].removeprefix("testdata/"))
def test_transparency_dev_consistency_probes(name, probe):
    got = VERIFIERS[name].verify_consistency(
        probe["size1"],
        probe["size2"],
        base64.b64decode(probe["root1"] or ""),
        base64.b64decode(probe["root2"] or ""),
        _b64(probe["proof"] or []),
    )
    assert got is not probe["wantErr"], probe["desc"]


def _valid_subtree(start, end):
    if start == 0 or start == end:
        return start <= end
    ceil = 1 << (end - start - 1).bit_length()
    return start < end and start % ceil == 0


def test_subtree_vectors_of_the_merkle_tree_certs_draft():
    """Every valid subtree [start, end) of the tree of 130 one-byte leaves is a tree of its own:
    its hash and each of its leaves' inclusion proofs, folded into a rolling SHA-256, must give
    the published values."""
    leaves = [bytes([i]) for i in range(130)]
    hashes, proofs = hashlib.sha256(), hashlib.sha256()
    for end in range(131):
        for start in range(end + 1):
            if not _valid_subtree(start, end):
                continue
            sub = merkle.Tree.of_leaves(leaves[start:end])
            hashes.update(f"[{start}, {end}) {sub.root().hex()}\n".encode())
            for index in range(start, end):
                line = f"{index} [{start}, {end})" + "".join(f" {h.hex()}" for h in sub.inclusion_proof(index - start))
                proofs.update((line + "\n").encode())
    assert hashes.hexdigest() == "b82806ad4265bb151c1119c0f4db437bb4d1a1f887b3a7fba1cd4ebf552e3e81"
    assert proofs.hexdigest() == "ac2a8f989e44d99e399db448050ff5f19757df53cfb716aa81015d3955d8163f"


# -- against pymerkle, a maintained implementation of the same tree --------------------------------


@pytest.fixture(scope="module")
def thousand():
    from pymerkle import InmemoryTree

    leaves = [f"batch {i}".encode() for i in range(1000)]
    theirs = InmemoryTree(algorithm="sha256")
    for leaf in leaves:
        theirs.append_entry(leaf)
    return merkle.Tree.of_leaves(leaves), theirs


def test_roots_agree_with_pymerkle_at_every_size(thousand):
    ours, theirs = thousand
    for size in range(1, 1001):
        assert ours.root(size) == theirs.get_root(size), size


SIZES = (1, 2, 3, 7, 8, 1000)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", VERIFIERS)
def test_consistency_at_the_edges_of_the_tree(thousand, name, size):
    """From every earlier size (1, 2, 3, 7, 8, 1000 batches and everything between, sampled for
    1000) the proof verifies, is O(log n) hashes, and fails with a bit flipped or a leaf changed."""
    ours, theirs = thousand
    verify = VERIFIERS[name].verify_consistency
    olds = range(1, size + 1) if size <= 8 else (1, 2, 3, 7, 8, 9, 255, 256, 257, 511, 512, 513, 999, 1000)
    other = merkle.Tree.of_leaves([f"batch {i}".encode() for i in range(size - 1)] + [b"rewritten"])
    for old in olds:
        proof = ours.consistency_proof(old, size)
        root_old, root = theirs.get_root(old), theirs.get_root(size)
        assert verify(old, size, root_old, root, proof)
        assert len(proof) <= 2 * size.bit_length()
        if old == size:
            continue
        flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:]] + proof[1:]
        assert not verify(old, size, root_old, root, flipped)
        assert not verify(old, size, root_old, other.root(), proof)  # the newest leaf rewritten


@pytest.mark.parametrize("name", VERIFIERS)
def test_inclusion_proofs_of_a_thousand(thousand, name):
    ours, theirs = thousand
    verify = VERIFIERS[name].verify_inclusion
    for size in SIZES:
        root = theirs.get_root(size)
        for index in sorted({0, size // 2, size - 1}):
            proof = ours.inclusion_proof(index, size)
            assert len(proof) <= size.bit_length()
            assert verify(index, size, ours.leaf(index), proof, root)
            assert not verify(index, size, merkle.leaf_hash(b"other"), proof, root)
            if proof:
                assert not verify(index, size, ours.leaf(index), proof[:-1] + [bytes(32)], root)


def test_proofs_for_impossible_sizes_are_refused():
    tree = merkle.Tree.of_leaves(CT_INPUTS)
    with pytest.raises(ValueError):
        tree.inclusion_proof(8, 8)
    with pytest.raises(ValueError):
        tree.consistency_proof(0, 8)
    with pytest.raises(ValueError):
        tree.consistency_proof(3, 9)
