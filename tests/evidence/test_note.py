"""Signed notes and checkpoints (evidence.note) and the standalone verifier's Ed25519, against the
published examples: C2SP signed-note's example verifier key and note (c2sp.org/signed-note,
"Example"; C2SP/C2SP signed-note.md at commit 5ba5ee8) and RFC 8032's test vectors 1 and 2
(section 7.1)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from evidence.note import Checkpoint, NoteError, Signer, VerifierKey, open_checkpoint, open_note, split_note
from tests.evidence.test_merkle import STANDALONE

C2SP_KEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
RFC8032 = [
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]


def test_the_c2sp_example_verifies():
    key = VerifierKey.parse(C2SP_KEY)
    assert key.encode() == C2SP_KEY
    assert open_note(C2SP_NOTE, key) == "This is an example message.\n"
    standalone = STANDALONE.Key(C2SP_KEY)
    assert standalone.key_id == key.key_id and standalone.fingerprint == key.fingerprint


def test_a_changed_note_fails():
    key = VerifierKey.parse(C2SP_KEY)
    with pytest.raises(NoteError, match="一致しません"):
        open_note(C2SP_NOTE.replace("example message", "example messagE"), key)


@pytest.mark.parametrize("public, message, signature", RFC8032)
def test_standalone_ed25519_on_rfc8032_vectors(public, message, signature):
    public, message, signature = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    assert STANDALONE.ed25519_verify(public, message, signature)
    assert not STANDALONE.ed25519_verify(public, message + b"x", signature)
    bad = bytearray(signature)
    bad[40] ^= 1
    assert not STANDALONE.ed25519_verify(public, message, bytes(bad))
    assert VerifierKey("x", public).verify(message, signature)


def test_signer_round_trip_and_checkpoint_format():
    signer = Signer.generate("city.example.lg.jp/hyoka-evidence")
    again = Signer.parse(signer.encode())
    assert again.verifier == signer.verifier
    assert signer.encode().startswith("PRIVATE+KEY+city.example.lg.jp/hyoka-evidence+")
    checkpoint = Checkpoint(signer.name, 12, bytes(range(32)), 1764720000)
    note = signer.sign(checkpoint.text())
    lines = note.split("\n")
    assert lines[:4] == [signer.name, "12", base64.b64encode(bytes(range(32))).decode(), "time 1764720000"]
    assert lines[4] == "" and lines[5].startswith(f"\u2014 {signer.name} ")
    assert open_checkpoint(note, signer.verifier) == checkpoint
    # the standalone verifier reads the same note
    opened = STANDALONE.open_checkpoint(note, STANDALONE.Key(signer.verifier.encode()))
    assert (opened["size"], opened["root"], opened["time"]) == (12, bytes(range(32)), 1764720000)


def test_another_keys_signature_is_not_ours():
    ours, theirs = Signer.generate("log.example/a"), Signer.generate("log.example/a")
    note = theirs.sign(Checkpoint(theirs.name, 1, bytes(32)).text())
    with pytest.raises(NoteError, match="署名がありません"):
        open_checkpoint(note, ours.verifier)
    with pytest.raises(STANDALONE.Failure):
        STANDALONE.open_checkpoint(note, STANDALONE.Key(ours.verifier.encode()))


@pytest.mark.parametrize(
    "note",
    [
        "no signature\n",
        "text\n\n- log.example/a AAAA\n",
        "text\r\n\n\u2014 log.example/a AAAAAA==\n",
        "text\n\n\u2014 log.example/a !!!\n",
    ],
)
def test_malformed_notes_are_refused(note):
    with pytest.raises(NoteError):
        split_note(note)


def test_malformed_keys_are_refused():
    for text in ("", "name+00000000", "na me+00000000+AAAA", C2SP_KEY.replace("530d903a", "530d903b")):
        with pytest.raises(NoteError):
            VerifierKey.parse(text)


def test_keys_whose_base64_holds_a_plus_sign_round_trip():
    for _ in range(500):
        signer = Signer.generate("log.example/plus")
        if "+" in signer.verifier.encode().split("+", 2)[2] and "+" in signer.encode().split("+", 4)[4]:
            break
    else:  # pragma: no cover - (63/64)^2 per try
        pytest.fail("no key with a + in its base64 in 500 tries")
    assert VerifierKey.parse(signer.verifier.encode()) == signer.verifier
    assert Signer.parse(signer.encode()).verifier == signer.verifier
    assert STANDALONE.Key(signer.verifier.encode()).public == signer.verifier.public


README_KEY = "city.example.lg.jp/hyoka-evidence+da2f98a7+AangfOFPhT1ujloShMzNPGRkd31ulzpc8SfSZ3bW+hTK"


def test_the_readme_example_verifies():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("```\ncity.example.lg.jp/hyoka-evidence\n1234\n") + 4
    note = readme[start : readme.index("```", start)]
    key = VerifierKey.parse(README_KEY)
    assert open_checkpoint(note, key).size == 1234
    assert key.fingerprint in readme and README_KEY in readme
