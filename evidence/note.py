"""Signed checkpoints in the text formats of C2SP: ``signed-note`` (Ed25519, signature type 0x01)
and ``tlog-checkpoint``. Pure apart from the key file it is given.

A checkpoint's note text::

    city.example.lg.jp/hyoka-evidence      origin (the log's name; also the key name)
    1234                                   tree size: the number of sealed batches
    Q2sUYapGGPo4dkMgIAUqom/Xajj7h2fB2M…=   root hash (base64)
    time 1764720000                        extension line: when it was signed (Unix seconds)

followed by a blank line and ``— <key name> base64(key ID || Ed25519 signature)``. The key ID is
``SHA-256(key name || 0x0A || 0x01 || public key)[:4]``. The public key is published as a C2SP
verifier key, ``<name>+<key ID hex>+base64(0x01 || public key)``; the private key is kept in the
signer-key format of Go's ``golang.org/x/mod/sumdb/note``,
``PRIVATE+KEY+<name>+<key ID hex>+base64(0x01 || seed)``, so other tools can read both.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = b"\x01"
DASH = "\u2014"
_NAME = re.compile(r"[^\s+]+")
_SIGNATURE_LINE = re.compile(rf"^{DASH} (\S+) (\S+)$")
#: the most signature lines read from a note (the C2SP minimum is 16)
MAX_SIGNATURES = 32


class NoteError(ValueError):
    """A note or key that cannot be read or whose signature does not hold (message in Japanese)."""


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("Base64 として読めない値があります") from exc


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise NoteError(f"鍵の名前「{name}」は使えません(空白と + は使えません)")
    return name


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519 + public).digest()[:4]


def fingerprint(public: bytes) -> str:
    """SHA-256 of the 32-byte public key, hex in groups of four (to read aloud or compare by eye)."""
    digest = hashlib.sha256(public).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


@dataclass(frozen=True)
class VerifierKey:
    name: str
    public: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def encode(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(ED25519 + self.public).decode()}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("公開鍵は「名前+鍵ID+Base64」の形式で指定してください")
        name, hex_id, material = parts
        raw = _b64decode(material)
        if len(raw) != 33 or raw[:1] != ED25519:
            raise NoteError("公開鍵が Ed25519 の鍵ではありません")
        key = cls(_check_name(name), raw[1:])
        if hex_id.lower() != key.key_id.hex():
            raise NoteError("公開鍵の鍵IDが鍵の内容と一致しません")
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    name: str
    seed: bytes = field(repr=False)

    @classmethod
    def generate(cls, name: str) -> Signer:
        private = Ed25519PrivateKey.generate()
        seed = private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return cls(_check_name(name), seed)

    @classmethod
    def parse(cls, text: str) -> Signer:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("署名鍵のファイルの形式が正しくありません")
        name, hex_id, material = parts[2:]
        raw = _b64decode(material)
        if len(raw) != 33 or raw[:1] != ED25519:
            raise NoteError("署名鍵が Ed25519 の鍵ではありません")
        signer = cls(_check_name(name), raw[1:])
        if hex_id.lower() != signer.verifier.key_id.hex():
            raise NoteError("署名鍵の鍵IDが鍵の内容と一致しません")
        return signer

    def encode(self) -> str:
        material = base64.b64encode(ED25519 + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{material}"

    @property
    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def verifier(self) -> VerifierKey:
        public = self._private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return VerifierKey(self.name, public)

    def sign(self, text: str) -> str:
        """The signed note: ``text`` (ending in a newline), a blank line, the signature line."""
        if not text.endswith("\n"):
            raise ValueError("a note's text ends with a newline")
        signature = self._private.sign(text.encode("utf-8"))
        encoded = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{text}\n{DASH} {self.name} {encoded}\n"


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes


def split_note(note: str) -> tuple[str, list[Signature]]:
    """The note's text (with its final newline) and its signature lines."""
    if any(ord(ch) < 0x20 and ch != "\n" for ch in note):
        raise NoteError("制御文字が含まれています")
    if not note.endswith("\n"):
        raise NoteError("署名付きノートの形式ではありません(最後の改行がありません)")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("署名付きノートの形式ではありません(本文と署名を分ける空行がありません)")
    text, lines = note[: cut + 1], note[cut + 2 :].splitlines()
    if not lines:
        raise NoteError("署名がありません")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("署名の行が多すぎます")
    signatures = []
    for line in lines:
        match = _SIGNATURE_LINE.match(line)
        if not match:
            raise NoteError("署名の行の形式が正しくありません")
        raw = _b64decode(match.group(2))
        if len(raw) < 5:
            raise NoteError("署名の値が短すぎます")
        signatures.append(Signature(match.group(1), raw[:4], raw[4:]))
    return text, signatures


def open_note(note: str, key: VerifierKey) -> str:
    """The text of ``note`` once ``key``'s signature on it has been verified (C2SP: signatures of
    other keys are ignored; one of ``key`` that fails rejects the note)."""
    text, signatures = split_note(note)
    own = [s for s in signatures if s.name == key.name and s.key_id == key.key_id]
    if not own:
        raise NoteError(f"この公開鍵(指紋 {key.fingerprint})による署名がありません(別の鍵で署名されています)")
    for s in own:
        if not key.verify(text.encode("utf-8"), s.signature):
            raise NoteError(f"署名が公開鍵(指紋 {key.fingerprint})と一致しません(内容が改変されたか、別の鍵の署名です)")
    return text


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    #: when it was signed (Unix seconds), from the ``time`` extension line
    time: int | None = None

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        if self.time is not None:
            lines.append(f"time {self.time}")
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if lines[-1] != "" or len(lines) < 4 or any(line == "" for line in lines[:-1]):
            raise NoteError("チェックポイントの本文の形式が正しくありません")
        origin, size, root = lines[:3]
        if not re.fullmatch(r"0|[1-9][0-9]*", size):
            raise NoteError("チェックポイントのバッチ数が数値ではありません")
        raw = _b64decode(root)
        if len(raw) != 32:
            raise NoteError("チェックポイントのルートハッシュの長さが正しくありません")
        when = None
        for line in lines[3:-1]:
            if re.fullmatch(r"time [0-9]{1,12}", line):
                when = int(line[5:])
        return cls(origin, int(size), raw, when)


def open_checkpoint(note: str, key: VerifierKey) -> Checkpoint:
    """The checkpoint of a signed note, verified with ``key``; its origin must be the key's name."""
    checkpoint = Checkpoint.parse(open_note(note, key))
    if checkpoint.origin != key.name:
        raise NoteError(f"チェックポイントのログ名「{checkpoint.origin}」が公開鍵の名前「{key.name}」と異なります")
    return checkpoint
