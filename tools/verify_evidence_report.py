#!/usr/bin/env python3
"""Check Hyoka's evidence report offline, with the Python standard library alone.

    python3 verify_evidence_report.py report REPORT.json --key PUBLIC_KEY
    python3 verify_evidence_report.py consistency PROOF.json --against MY_CHECKPOINT.txt --key PUBLIC_KEY

``report``: the report (JSON) names the checkpoint it rests on, signed with the log's Ed25519 key,
and for every batch it uses, the batch's record (its leaf) and an inclusion proof. This checks
the checkpoint's signature against PUBLIC_KEY, every batch's inclusion proof against the
checkpoint's root hash (RFC 9162), that the batches listed in the report are the records proved,
and the report's own SHA-256 (``manifest.report_sha256``).

``consistency``: PROOF.json is what the portal gives at ``/public/checkpoints/consistency?from=N``
(the latest checkpoint and a consistency proof from N batches). This checks both checkpoints'
signatures and that the latest one extends MY_CHECKPOINT.txt, a checkpoint of N batches kept
earlier: nothing in the log up to then was deleted or rewritten since.

PUBLIC_KEY is the log's public key as published (``name+keyid+base64``) or a file holding it.
Exit status 0 when everything holds, 1 when something does not (each failure is printed), 2 when
the files cannot be read. Formats: C2SP signed-note and tlog-checkpoint, RFC 9162 Merkle trees,
RFC 8032 Ed25519 (verification only, written out below), canonical JSON (sorted keys, no spaces,
UTF-8).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

# --------------------------------------------------------------------------- Ed25519 (RFC 8032, 5.1.7)

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _add(p: tuple, q: tuple) -> tuple:
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s: int, p: tuple) -> tuple:
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _same_point(p: tuple, q: tuple) -> bool:
    return (p[0] * q[2] - q[0] * p[2]) % _P == 0 and (p[1] * q[2] - q[1] * p[2]) % _P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decompress(data: bytes) -> tuple | None:
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
assert _GX is not None
_G = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % _L
    return _same_point(_mul(s, _G), _add(r, _mul(h, a)))


# --------------------------------------------------------------------------- Merkle trees (RFC 9162, 2.1)


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: list) -> bytes | None:
    if not 0 <= index < size or len(leaf) != 32:
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


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list, root: bytes) -> bool:
    return root_from_inclusion_proof(index, size, leaf, proof) == root


def verify_consistency(old_size: int, size: int, old_root: bytes, root: bytes, proof: list) -> bool:
    if size < old_size or old_size == 0:
        return False
    if old_size == size:
        return not proof and old_root == root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
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


# --------------------------------------------------------------------------- signed notes (C2SP)


class Failure(Exception):
    """Something does not hold (message in Japanese)."""


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Failure("Base64 として読めない値があります") from exc


class Key:
    def __init__(self, text: str):
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise Failure("公開鍵は「名前+鍵ID+Base64」の形式で指定してください")
        self.name, hex_id, material = parts
        raw = _b64(material)
        if len(raw) != 33 or raw[0] != 1 or not self.name or any(ch.isspace() for ch in self.name):
            raise Failure("公開鍵が Ed25519 の鍵ではありません")
        self.public = raw[1:]
        self.key_id = hashlib.sha256(self.name.encode() + b"\n\x01" + self.public).digest()[:4]
        if hex_id.lower() != self.key_id.hex():
            raise Failure("公開鍵の鍵IDが鍵の内容と一致しません")
        digest = hashlib.sha256(self.public).hexdigest()
        self.fingerprint = " ".join(digest[i : i + 4] for i in range(0, 64, 4))


def open_checkpoint(note: str, key: Key) -> dict:
    """{origin, size, root, time} of a checkpoint whose signature by ``key`` verifies."""
    if any(ord(ch) < 0x20 and ch != "\n" for ch in note) or not note.endswith("\n"):
        raise Failure("チェックポイントが署名付きノートの形式ではありません")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise Failure("チェックポイントに署名がありません")
    text, lines = note[: cut + 1], note[cut + 2 :].splitlines()
    own = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014":
            raise Failure("チェックポイントの署名の行の形式が正しくありません")
        raw = _b64(parts[2])
        if parts[1] == key.name and raw[:4] == key.key_id:
            own.append(raw[4:])
    if not own:
        raise Failure(f"チェックポイントに、この公開鍵(指紋 {key.fingerprint})による署名がありません")
    for signature in own:
        if not ed25519_verify(key.public, text.encode("utf-8"), signature):
            raise Failure(f"チェックポイントの署名が公開鍵(指紋 {key.fingerprint})と一致しません")
    body = text.split("\n")[:-1]
    if len(body) < 3 or not body[1].isdigit() or (body[1].startswith("0") and body[1] != "0"):
        raise Failure("チェックポイントの本文の形式が正しくありません")
    root = _b64(body[2])
    if body[0] != key.name or len(root) != 32:
        raise Failure("チェックポイントのログ名またはルートハッシュが正しくありません")
    when = next((int(x[5:]) for x in body[3:] if x.startswith("time ") and x[5:].isdigit()), None)
    return {"origin": body[0], "size": int(body[1]), "root": root, "time": when}


def describe(checkpoint: dict) -> str:
    signed = ""
    if checkpoint["time"] is not None:
        moment = datetime.fromtimestamp(checkpoint["time"], timezone(timedelta(hours=9)))
        signed = f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}(日本時間)に署名、"
    return f"チェックポイント({signed}バッチ {checkpoint['size']} 件)"


# --------------------------------------------------------------------------- the checks


def canonical_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def report_sha256(report: dict) -> str:
    copy = json.loads(json.dumps(report))
    copy["manifest"].pop("report_sha256", None)
    return hashlib.sha256(canonical_json(copy).encode("utf-8")).hexdigest()


#: manifest field -> leaf field it shows
SHOWN = {
    "id": "id",
    "kind": "kind",
    "source": "source",
    "received_at": "received_at",
    "rows": "rows_stored",
    "sha256": "raw_sha256",
    "chain_hash": "chain_hash",
}


def _hashes(values) -> list:
    if not isinstance(values, list):
        raise Failure("証明がありません")
    try:
        return [bytes.fromhex(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise Failure("証明に16進数として読めない値があります") from exc


def check_report(report: dict, key: Key) -> tuple[list[str], str]:
    """(failures, summary) of a report's JSON."""
    failures = []
    manifest = report.get("manifest") if isinstance(report, dict) else None
    if not isinstance(manifest, dict):
        return ["証跡報告書の JSON ではありません(manifest がありません)"], ""
    if manifest.get("report_sha256") != report_sha256(report):
        failures.append("報告書の内容が改変されています(内容の SHA-256 が manifest.report_sha256 と一致しません)")
    stored = manifest.get("checkpoint")
    if not isinstance(stored, dict) or not isinstance(stored.get("note"), str):
        return failures + ["報告書にチェックポイントがありません"], ""
    try:
        checkpoint = open_checkpoint(stored["note"], key)
    except Failure as exc:
        return failures + [str(exc)], ""
    if stored.get("tree_size") != checkpoint["size"] or stored.get("root_hash") != checkpoint["root"].hex():
        failures.append("報告書に書かれたチェックポイントの件数・ルートハッシュが、署名された内容と異なります")
    batches = manifest.get("batches") or []
    for batch in batches:
        label = f"バッチ {batch.get('id')}"
        leaf = batch.get("leaf")
        if not isinstance(leaf, dict):
            failures.append(f"{label}: 記録(リーフ)がありません")
            continue
        shown = [name for name, field in SHOWN.items() if batch.get(name) != leaf.get(field)]
        if shown:
            failures.append(f"{label}: 報告書に載せた値({', '.join(shown)})が証明された記録と異なります")
        if batch.get("inclusion_proof") is None:
            failures.append(f"{label}: {describe(checkpoint)}に含まれていないため、証明がありません")
            continue
        try:
            proof = _hashes(batch["inclusion_proof"])
        except Failure as exc:
            failures.append(f"{label}: {exc}")
            continue
        index = batch.get("leaf_index")
        digest = leaf_hash(canonical_json(leaf).encode("utf-8"))
        if not isinstance(index, int) or not verify_inclusion(
            index, checkpoint["size"], digest, proof, checkpoint["root"]
        ):
            failures.append(f"{label}: 包含証明が成り立ちません(記録または証明が改変されています)")
    summary = (
        f"報告書の {len(batches)} 件のバッチは、すべて{describe(checkpoint)}に含まれています。"
        f"公開鍵の指紋: {key.fingerprint}"
    )
    return failures, summary


def check_consistency(proof_doc: dict, kept_note: str, key: Key) -> tuple[list[str], str]:
    """(failures, summary): the portal's latest checkpoint extends the one kept."""
    if not isinstance(proof_doc, dict):
        return ["一貫性の証明の JSON ではありません"], ""
    if "error" in proof_doc:
        return [f"ポータルが証明を出せませんでした: {proof_doc['error']}"], ""
    try:
        kept = open_checkpoint(kept_note, key)
        latest = open_checkpoint(str(proof_doc.get("checkpoint")), key)
        proof = _hashes(proof_doc.get("proof"))
    except Failure as exc:
        return [str(exc)], ""
    if proof_doc.get("old_size") != kept["size"]:
        return [
            f"証明はバッチ {proof_doc.get('old_size')} 件からのもので、お持ちの{describe(kept)}のものではありません"
        ], ""
    if latest["size"] < kept["size"]:
        return [
            f"最新の{describe(latest)}は、お持ちの{describe(kept)}より短くなっています。"
            f"最新の {kept['size'] - latest['size']} 件のバッチが削除されています"
        ], ""
    if not verify_consistency(kept["size"], latest["size"], kept["root"], latest["root"], proof):
        return [
            f"お持ちの{describe(kept)}から最新の{describe(latest)}への一貫性の証明が成り立ちません。"
            "その時点までの記録が書き換えられたか、削除されています"
        ], ""
    return [], (
        f"お持ちの{describe(kept)}から最新の{describe(latest)}まで、ログは削除も書き換えもなく引き継がれています。"
        f"公開鍵の指紋: {key.fingerprint}"
    )


def _read_text(path: str) -> str:
    return Path(path).read_bytes().decode("utf-8").replace("\r\n", "\n")


def _read_key(text: str) -> Key:
    if "+" not in text and Path(text).is_file():
        text = _read_text(text)
    return Key(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Hyoka の証跡報告書と証跡ログのチェックポイントを検証します。")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="証跡報告書(JSON)を検証する")
    rep.add_argument("file", help="証跡報告書の JSON ファイル")
    rep.add_argument("--key", required=True, help="公開鍵(名前+鍵ID+Base64)またはそれを書いたファイル")
    con = sub.add_parser("consistency", help="お持ちのチェックポイントから最新のものへの一貫性を検証する")
    con.add_argument("file", help="ポータルの /public/checkpoints/consistency?from=N から保存した JSON")
    con.add_argument("--against", required=True, help="お持ちのチェックポイントのファイル")
    con.add_argument("--key", required=True, help="公開鍵(名前+鍵ID+Base64)またはそれを書いたファイル")
    args = parser.parse_args(argv)
    try:
        key = _read_key(args.key)
        document = json.loads(_read_text(args.file))
        kept = _read_text(args.against) if args.command == "consistency" else ""
    except (OSError, UnicodeDecodeError, ValueError, Failure) as exc:
        print(f"読み込めません: {exc}", file=sys.stderr)
        return 2
    if args.command == "report":
        failures, summary = check_report(document, key)
    else:
        failures, summary = check_consistency(document, kept, key)
    for failure in failures:
        print(f"NG {failure}", file=sys.stderr)
    if failures:
        return 1
    print(f"OK {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
