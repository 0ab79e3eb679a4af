"""The evidence log: a Merkle tree over the sealed batches, signed checkpoints, and proofs.

The hash chain (:mod:`evidence.chain`) notices an edited row or batch, but it lives in the same
database: someone who can drop the triggers can delete the newest batches, or rewrite the whole
chain consistently, and the chain still holds. So, as Certificate Transparency does, the log's
state leaves the database:

* **Leaves.** Batch ``i`` (the ``i``-th sealed batch in id order, which is the order the
  chain seals them in) is the leaf ``canonical_json(leaf_record(batch))``: every recorded field
  of the batch, its rows' digest and chain hash included. The tree is RFC 9162's
  (:mod:`evidence.merkle`). Each leaf's hash is kept once it is first signed
  (``evidence_log_leaves``), so that signing and proofs read hashes instead of recomputing
  every leaf; ``verify`` recomputes them all and names the batches that differ or are gone.
* **Checkpoints.** :func:`make_checkpoint` signs the tree size and root hash, with the time, as a
  C2SP checkpoint (:mod:`evidence.note`) with the log's Ed25519 key. The private key lives in a
  file outside the database (``HYOKA_EVIDENCE_LOG_KEY``, default ``instance/evidence-log.key``,
  mode 0600), created on first use. A checkpoint is made after every stored import
  (:func:`after_import`, unless ``HYOKA_EVIDENCE_CHECKPOINT_AFTER_IMPORT`` is off) and by
  ``flask evidence checkpoint`` (daily from cron). The database keeps each one; the portal
  publishes them (HTML and Atom) and each may be written to a directory
  (``HYOKA_EVIDENCE_CHECKPOINT_DIR``, e.g. a WORM share). No checkpoint is signed over a log
  that does not extend the latest one stored or written there.
* **Verification.** :func:`check_log` tells whether the log as it is now extends a checkpoint
  (a consistency proof), naming the batches missing when it is shorter; ``flask evidence verify``
  runs it for every stored checkpoint and for one a person kept (``--against FILE``).
* **Proofs.** :func:`inclusion_proofs` gives, for the evidence report, the latest checkpoint and
  each batch's leaf and inclusion proof, which ``tools/verify_evidence_report.py`` checks with
  the public key alone.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from common.canonical import canonical_json
from common.db import db, utcnow
from common.jpdate import wareki
from common.timeutil import to_jst
from evidence import merkle
from evidence.models import FeedBatch, LogCheckpoint, LogLeaf
from evidence.note import Checkpoint, NoteError, Signer, VerifierKey, open_checkpoint

log = logging.getLogger(__name__)

#: the batch fields a leaf binds, in the order they are listed (the JSON is canonical anyway)
LEAF_FIELDS = (
    "id",
    "kind",
    "source",
    "system_code",
    "fmt",
    "received_at",
    "rows_total",
    "rows_stored",
    "duplicates",
    "rejected",
    "raw_sha256",
    "rows_digest",
    "prev_hash",
    "chain_hash",
    "first_at",
    "last_at",
)
KEY_FILE = "evidence-log.key"
#: batches named one by one in a problem (the rest are counted)
MAX_NAMED = 20
DEFAULT_LOG_NAME = "hyoka-evidence"


class LogKeyError(RuntimeError):
    """The log key cannot be used (missing while checkpoints exist, unreadable, too open)."""


class CheckpointRefused(RuntimeError):
    """The log does not extend an earlier checkpoint: signing now would hide it."""


# --------------------------------------------------------------------------- configuration


def init_config(app) -> None:
    """Defaults of the log's settings, from the environment (``HYOKA_EVIDENCE_*``)."""
    env = os.environ
    app.config.setdefault(
        "HYOKA_EVIDENCE_LOG_KEY", env.get("HYOKA_EVIDENCE_LOG_KEY") or str(Path(app.instance_path) / KEY_FILE)
    )
    app.config.setdefault("HYOKA_EVIDENCE_LOG_NAME", env.get("HYOKA_EVIDENCE_LOG_NAME"))
    app.config.setdefault(
        "HYOKA_EVIDENCE_CHECKPOINT_AFTER_IMPORT",
        env.get("HYOKA_EVIDENCE_CHECKPOINT_AFTER_IMPORT", "1").lower() not in ("0", "off", "false", "no"),
    )
    app.config.setdefault("HYOKA_EVIDENCE_CHECKPOINT_DIR", env.get("HYOKA_EVIDENCE_CHECKPOINT_DIR"))


def log_name() -> str:
    """The name of a new log key (and the checkpoints' origin): ``<host>/hyoka-evidence``."""
    configured = current_app.config.get("HYOKA_EVIDENCE_LOG_NAME")
    if configured:
        return configured
    host = current_app.config.get("HYOKA_FEED_AUTHORITY") or current_app.config.get("SERVER_NAME") or "hyoka.local"
    return f"{host.split(':')[0]}/{DEFAULT_LOG_NAME}"


# --------------------------------------------------------------------------- the key


def key_path() -> Path:
    return Path(current_app.config["HYOKA_EVIDENCE_LOG_KEY"])


def load_signer(*, create: bool = False) -> Signer:
    """The log's signing key; with ``create`` a new one is made when there is none and no
    checkpoint was ever signed (a lost key is never silently replaced)."""
    path = key_path()
    if path.exists():
        if os.name == "posix" and path.stat().st_mode & 0o077:
            raise LogKeyError(
                f"証跡ログの署名鍵 {path} を所有者以外も読み書きできる設定になっています。"
                f"chmod 600 {path} としてから、もう一度実行してください。"
            )
        try:
            return Signer.parse(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, NoteError) as exc:
            raise LogKeyError(f"証跡ログの署名鍵 {path} を読めません: {exc}") from exc
    if db.session.execute(sa.select(sa.func.count()).select_from(LogCheckpoint)).scalar_one():
        raise LogKeyError(
            f"証跡ログの署名鍵 {path} が見つかりません。これまでのチェックポイントはこの鍵で署名されています。"
            "バックアップから鍵のファイルを戻してください(新しい鍵を作ると、配布済みのチェックポイントと照合できなくなります)。"
        )
    if not create:
        raise LogKeyError(
            f"証跡ログの署名鍵 {path} はまだ作成されていません(flask --app app evidence key で作成します)。"
        )
    signer = Signer.generate(log_name())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it a moment ago: use that one
        return load_signer()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(signer.encode() + "\n")
    log.warning("evidence log: created the signing key %s (%s)", path, signer.verifier.fingerprint)
    return signer


def public_key() -> VerifierKey | None:
    """The log's public key, or None while there is none (or it cannot be read)."""
    try:
        return load_signer().verifier
    except LogKeyError:
        return None


def parse_key(text: str) -> VerifierKey:
    """A verifier key given on the command line: the key itself or a file holding it."""
    candidate = Path(text)
    if "+" not in text and candidate.is_file():
        text = candidate.read_text(encoding="utf-8")
    return VerifierKey.parse(text)


# --------------------------------------------------------------------------- the tree


def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def leaf_record(batch) -> dict:
    """What a batch's leaf binds: every recorded field (``batch`` is a row mapping or dict)."""
    return {name: _plain(batch[name]) for name in LEAF_FIELDS}


def leaf_bytes(record: dict) -> bytes:
    return canonical_json(record).encode("utf-8")


@dataclass
class Log:
    """The log as the database holds it now: the sealed batches' ids in leaf order, and the tree."""

    batch_ids: list[int]
    tree: merkle.Tree
    #: batch ids whose kept leaf (``evidence_log_leaves``) differs from their record's (recomputed logs only)
    changed: list[int] = field(default_factory=list)
    #: batch ids with a kept leaf but no sealed batch any more (recomputed logs only)
    deleted: list[int] = field(default_factory=list)
    _index: dict[int, int] = field(default_factory=dict, repr=False)

    @property
    def size(self) -> int:
        return self.tree.size

    def index_of(self, batch_id: int) -> int | None:
        if not self._index:
            self._index = {bid: i for i, bid in enumerate(self.batch_ids)}
        return self._index.get(batch_id)


def _record_leaves(batch_ids) -> dict[int, bytes]:
    """{batch id: leaf hash} computed from the batches' records."""
    b = FeedBatch.__table__
    cols = [b.c[name] for name in LEAF_FIELDS]
    query = sa.select(*cols).where(b.c.chain_hash.is_not(None))
    if batch_ids is not None:
        query = query.where(b.c.id.in_(sa.bindparam("ids", expanding=True)))
    leaves = {}
    chunks = [None] if batch_ids is None else [batch_ids[i : i + 1000] for i in range(0, len(batch_ids), 1000)]
    for chunk in chunks:
        params = {} if chunk is None else {"ids": chunk}
        for row in db.session.execute(query, params):
            mapping = row._mapping
            leaves[mapping["id"]] = merkle.leaf_hash(leaf_bytes(leaf_record(mapping)))
    return leaves


def current_log(*, recompute: bool = False, keep_new: bool = False) -> Log:
    """The tree over the sealed batches (id order). Leaves come from ``evidence_log_leaves`` where
    kept, else from the batch records (``keep_new`` stores those: signing does). ``recompute``
    computes every leaf from its record and lists in ``changed`` the batches whose kept leaf differs."""
    b, kept_table = FeedBatch.__table__, LogLeaf.__table__
    rows = db.session.execute(
        sa.select(b.c.id, kept_table.c.leaf_hash)
        .select_from(b.outerjoin(kept_table, kept_table.c.batch_id == b.c.id))
        .where(b.c.chain_hash.is_not(None))
        .order_by(b.c.id)
    ).all()
    ids = [bid for bid, _h in rows]
    kept = {bid: bytes.fromhex(h) for bid, h in rows if h is not None}
    if recompute:
        leaves = _record_leaves(None)
        changed = [bid for bid in ids if bid in kept and kept[bid] != leaves[bid]]
        log = Log(ids, merkle.Tree([leaves[bid] for bid in ids]), changed)
        present = set(ids)
        log.deleted = sorted(
            bid for bid in db.session.execute(sa.select(kept_table.c.batch_id)).scalars() if bid not in present
        )
        return log
    new = _record_leaves([bid for bid in ids if bid not in kept]) if len(kept) < len(ids) else {}
    if keep_new and new:
        db.session.execute(sa.insert(kept_table), [{"batch_id": bid, "leaf_hash": h.hex()} for bid, h in new.items()])
    return Log(ids, merkle.Tree([kept.get(bid) or new[bid] for bid in ids]))


# --------------------------------------------------------------------------- checking a checkpoint


def when_label(moment: datetime) -> str:
    local = to_jst(moment)
    assert local is not None
    return f"{wareki(local.date())} {local:%H:%M}"


def checkpoint_label(checkpoint: Checkpoint) -> str:
    signed = (
        f"{when_label(datetime.fromtimestamp(checkpoint.time, UTC))}に署名、" if checkpoint.time is not None else ""
    )
    return f"チェックポイント({signed}バッチ {checkpoint.size} 件)"


def check_log(current: Log, checkpoint: Checkpoint) -> str | None:
    """None when the log now extends ``checkpoint`` (RFC 9162 consistency proof), else what is wrong."""
    label = checkpoint_label(checkpoint)
    if checkpoint.size > current.size:
        missing = checkpoint.size - current.size
        last = (
            f"現在の最後のバッチは バッチ {current.batch_ids[-1]} です"
            if current.batch_ids
            else "現在はバッチがありません"
        )
        return (
            f"{label}の時点でバッチは {checkpoint.size} 件ありましたが、現在のログには {current.size} 件しかありません。"
            f"最新の {missing} 件(ログの {current.size + 1}〜{checkpoint.size} 番目のバッチ)が削除されています({last})。"
        )
    if checkpoint.size == 0:
        return (
            None if checkpoint.root == merkle.EMPTY_ROOT else f"{label}のルートハッシュが空のログのものではありません。"
        )
    proof = current.tree.consistency_proof(checkpoint.size) if checkpoint.size < current.size else []
    if merkle.verify_consistency(checkpoint.size, current.size, checkpoint.root, current.tree.root(), proof):
        return None
    return (
        f"{label}の時点の {checkpoint.size} 件のバッチが、署名されたときの内容と一致しません。"
        f"それまでのバッチの記録が書き換えられたか、削除・差し替えられています(履歴の書き換え)。"
    )


@dataclass
class LogReport:
    """What :func:`verify_log` found: the checkpoints checked and the problems."""

    size: int = 0
    stored_checked: int = 0
    latest: Checkpoint | None = None
    against: Checkpoint | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_log(against: str | None = None, key: VerifierKey | None = None) -> LogReport:
    """Check every stored checkpoint (its signature, its row, and that the log extends it) and,
    given ``against`` (a signed note someone kept), that one too, with ``key`` or the log's own."""
    report = LogReport()
    current = current_log(recompute=True)
    report.size = current.size
    if current.changed:
        report.problems.append(
            f"ログに記録した後にバッチの記録が変更されています: バッチ {_named(current.changed)}"
            f"(記録した時点の値と、現在の記録から計算した値が一致しません)。"
        )
    if current.deleted:
        report.problems.append(f"ログに記録したバッチが削除されています: バッチ {_named(current.deleted)}。")
    if key is None:
        try:
            key = load_signer().verifier
        except LogKeyError as exc:
            if against is not None or _stored_count():
                report.problems.append(str(exc))
                return report
            return report  # no key and no checkpoint yet: nothing to check
    for row in db.session.execute(sa.select(LogCheckpoint).order_by(LogCheckpoint.id)).scalars():
        report.stored_checked += 1
        try:
            checkpoint = open_checkpoint(row.note, key)
        except NoteError as exc:
            report.problems.append(f"保存されているチェックポイント {row.id} を確認できません: {exc}")
            continue
        if checkpoint.size != row.tree_size or checkpoint.root.hex() != row.root_hash:
            report.problems.append(
                f"保存されているチェックポイント {row.id} の件数・ハッシュが署名された内容と異なります。"
            )
        problem = check_log(current, checkpoint)
        if problem:
            report.problems.append(f"保存されている{problem}")
        report.latest = checkpoint
    if against is not None:
        try:
            report.against = open_checkpoint(against, key)
        except NoteError as exc:
            report.problems.append(f"指定されたチェックポイントを確認できません: {exc}")
        else:
            problem = check_log(current, report.against)
            if problem:
                report.problems.append(f"指定された{problem}")
    return report


def _named(batch_ids: list[int]) -> str:
    more = f" ほか {len(batch_ids) - MAX_NAMED} 件" if len(batch_ids) > MAX_NAMED else ""
    return ", ".join(str(bid) for bid in batch_ids[:MAX_NAMED]) + more


def _stored_count() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(LogCheckpoint)).scalar_one()


def read_note_file(path: Path) -> str:
    """A kept checkpoint file (line ends normalised: a copy saved on Windows still verifies)."""
    return path.read_bytes().decode("utf-8").replace("\r\n", "\n")


# --------------------------------------------------------------------------- signing


def latest_checkpoint() -> LogCheckpoint | None:
    return db.session.execute(sa.select(LogCheckpoint).order_by(LogCheckpoint.id.desc()).limit(1)).scalar_one_or_none()


def _kept_copies() -> list[tuple[str, str]]:
    """(label, note) of the newest checkpoint in the database and in the configured directory."""
    kept = []
    latest = latest_checkpoint()
    if latest is not None:
        kept.append((f"保存されている最新のチェックポイント {latest.id}", latest.note))
    directory = current_app.config.get("HYOKA_EVIDENCE_CHECKPOINT_DIR")
    if directory and Path(directory).is_dir():
        files = sorted(Path(directory).glob("checkpoint-*.txt"))
        if files:
            kept.append((f"{files[-1]} のチェックポイント", read_note_file(files[-1])))
    return kept


def make_checkpoint(*, now: datetime | None = None, accept_inconsistent: bool = False) -> LogCheckpoint:
    """Sign the log as it is now and store the checkpoint (flushed; the caller commits).

    Refuses (:class:`CheckpointRefused`) when the log does not extend the newest checkpoint
    stored or written to the configured directory, unless ``accept_inconsistent``.
    """
    signer = load_signer(create=True)
    key = signer.verifier
    current = current_log(keep_new=True)
    if not accept_inconsistent:
        for label, note in _kept_copies():
            try:
                problem = check_log(current, open_checkpoint(note, key))
            except NoteError as exc:
                problem = f"署名を確認できません: {exc}"
            if problem:
                raise CheckpointRefused(
                    f"{label}と現在のログが整合しないため、署名しませんでした。{problem} "
                    "flask --app app evidence verify で確認してください。"
                )
    seconds = int((now or utcnow()).timestamp())
    checkpoint = Checkpoint(signer.name, current.size, current.tree.root(), seconds)
    row = LogCheckpoint(
        tree_size=checkpoint.size,
        root_hash=checkpoint.root.hex(),
        signed_at=datetime.fromtimestamp(seconds, UTC),
        note=signer.sign(checkpoint.text()),
        key_fingerprint=key.fingerprint,
    )
    db.session.add(row)
    db.session.flush()
    return row


def write_copy(row: LogCheckpoint) -> Path | None:
    """Write the checkpoint to the configured directory (never over an existing file)."""
    directory = current_app.config.get("HYOKA_EVIDENCE_CHECKPOINT_DIR")
    if not directory:
        return None
    path = Path(directory) / f"checkpoint-{row.id:010d}.txt"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8", newline="\n") as fh:
            fh.write(row.note)
    except FileExistsError:
        if read_note_file(path) != row.note:
            log.error("evidence log: %s exists and holds another checkpoint; not overwritten", path)
            return None
    except OSError:
        log.exception("evidence log: the checkpoint %s could not be written to %s", row.id, directory)
        return None
    return path


def after_import(result, echo=None) -> LogCheckpoint | None:
    """The doors' last step once an import is committed: sign a checkpoint that covers the new
    batch (``HYOKA_EVIDENCE_CHECKPOINT_AFTER_IMPORT``) and write its copy. Commits its own
    transaction; a failure is logged (and told to ``echo``), never undoes the import."""
    if not getattr(result, "stored", False) or not current_app.config.get("HYOKA_EVIDENCE_CHECKPOINT_AFTER_IMPORT"):
        return None
    try:
        row = make_checkpoint()
        db.session.commit()
    except Exception as exc:  # the batch is stored: report, do not fail the import
        db.session.rollback()
        log.exception("evidence log: no checkpoint after batch %s", getattr(result, "batch_id", None))
        if echo is not None:
            reason = str(exc) if isinstance(exc, LogKeyError | CheckpointRefused) else "予期しないエラー"
            echo(f"チェックポイントに署名できませんでした: {reason}")
        return None
    write_copy(row)
    if echo is not None:
        echo(f"チェックポイント {row.id} に署名しました(バッチ {row.tree_size} 件)。")
    return row


# --------------------------------------------------------------------------- proofs


class ProofUnavailable(LookupError):
    """No proof can be given (no checkpoint yet, or the log no longer reaches it)."""


def consistency_from(old_size: int) -> dict:
    """A consistency proof from the tree of ``old_size`` batches to the latest checkpoint: what a
    person holding an older checkpoint needs to check, offline, that nothing was removed since."""
    latest = latest_checkpoint()
    if latest is None:
        raise ProofUnavailable("チェックポイントはまだありません。")
    if old_size < 1 or old_size > latest.tree_size:
        raise ProofUnavailable(
            f"最新のチェックポイントのバッチは {latest.tree_size} 件です。"
            f"{old_size} 件のチェックポイントからの証明は作れません(1〜{latest.tree_size} を指定してください)。"
        )
    current = current_log()
    if current.size < latest.tree_size:
        raise ProofUnavailable("現在のログは最新のチェックポイントより短くなっています。管理者に確認してください。")
    proof = current.tree.consistency_proof(old_size, latest.tree_size) if old_size < latest.tree_size else []
    return {
        "old_size": old_size,
        "size": latest.tree_size,
        "checkpoint": latest.note,
        "proof": [h.hex() for h in proof],
    }


def inclusion_proofs(batches) -> dict:
    """For the evidence report: the latest checkpoint and, for each batch (row mappings), its leaf
    record, leaf index and inclusion proof in that checkpoint's tree (None for a batch the
    checkpoint does not cover yet)."""
    latest = latest_checkpoint()
    current = current_log()
    entries = {}
    for batch in batches:
        index = current.index_of(batch["id"])
        proof = None
        if latest is not None and index is not None and index < latest.tree_size <= current.size:
            proof = [h.hex() for h in current.tree.inclusion_proof(index, latest.tree_size)]
        entries[batch["id"]] = {"leaf": leaf_record(batch), "leaf_index": index, "inclusion_proof": proof}
    checkpoint = None
    if latest is not None:
        checkpoint = {
            "id": latest.id,
            "note": latest.note,
            "tree_size": latest.tree_size,
            "root_hash": latest.root_hash,
            "signed_at": latest.signed_at.isoformat(),
            "signed": when_label(latest.signed_at),
            "key_fingerprint": latest.key_fingerprint,
            "covers_all": all(e["inclusion_proof"] is not None for e in entries.values()),
        }
    return {"checkpoint": checkpoint, "batches": entries}
