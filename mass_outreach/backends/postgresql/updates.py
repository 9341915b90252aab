"""update_many's and upsert_many's writes on PostgreSQL (PostgresEngine.update_rows): a chunk's updated
records in a few UPDATE statements, not one a row.

Each statement that writes outreach bumps the walk counter's row (schema.sql's statement trigger), and
every bump in one transaction walks past the earlier ones' versions: a statement a row made a call slow
down row after row. Here an UPDATE takes up to PIECE_ROWS rows as one JSON value, which PostgreSQL reads
into the table's own row type (`json_populate_recordset(NULL::outreach, ...)`), and sets the columns
that changed in any of its rows: no column list or type is spelled out, so a column added to
model.COLUMNS needs no edit here.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import msgspec

from ...model import AT, STORED_COLUMNS

__all__ = ["update_rows"]

# rows an UPDATE: the client computes the next ones while the server writes these
PIECE_ROWS = 1000
JSON_BYTES = 32 << 20  # a json value may be 1 GB; one record's, a few MB (a body of 1,000,000 characters)
_ID = AT["id"]
_encode = msgspec.json.Encoder().encode
Row = tuple[Any, ...]


class _Piece(NamedTuple):
    """One UPDATE's rows: their positions in the call's rows, the columns set, each row as JSON, and the
    feed position's assignment (the engine's)."""

    positions: list[int]
    columns: tuple[int, ...]
    encoded: list[bytes]
    feed: str


def update_rows(
    conn: Any,
    rows: Iterable[tuple[Row, Row]],
    refused: Callable[[int, BaseException], None],
    meanwhile: Callable[[], None],
    integrity_error: type[BaseException],
    feed: str,
) -> int:
    """Write the (stored row, row to store) pairs, and `feed` (the feed position's assignment); return how
    many were written (see Engine.update_rows). The statements go in pipeline mode, each as soon as its
    rows are taken from `rows` (which the caller computes as they are asked for), then `meanwhile()`
    runs: the server writes while the client works. All of them are inside one savepoint: if the server
    refuses one, the rows are written again, synchronously, each statement's rows halved down to the
    refused row."""
    rows = iter(rows)
    pieces: list[_Piece] = []
    later: BaseException | None = None
    try:
        with conn.raw.pipeline():
            taken: list[tuple[Row, Row]] = []
            for pair in rows:
                taken.append(pair)
                if len(taken) >= PIECE_ROWS:
                    _send_pieces(conn, taken, pieces, feed)
                    taken = []
            if taken:
                _send_pieces(conn, taken, pieces, feed)
            if pieces:
                conn.execute("RELEASE chunk")
                try:
                    meanwhile()
                except BaseException as exc:  # raised once these rows' refusals are known
                    later = exc
    except integrity_error:
        conn.execute("ROLLBACK TO chunk; RELEASE chunk")
        rest = list(rows)  # if the refusal came mid-way
        for start in range(0, len(rest), PIECE_ROWS):
            pieces += _pieces(rest[start : start + PIECE_ROWS], _count(pieces), feed)
        count = _halving(conn, pieces, refused, integrity_error)
    else:
        count = _count(pieces)
    if later is not None:
        raise later
    return count


def _count(pieces: list[_Piece]) -> int:
    return sum(len(p.positions) for p in pieces)


def _send_pieces(conn: Any, taken: list[tuple[Row, Row]], pieces: list[_Piece], feed: str) -> None:
    """Send the UPDATEs of `taken` (the savepoint `chunk` first, before the call's first one). Each
    piece is in `pieces` before it is sent: a refusal of an earlier statement may surface while any
    later one is sent, and the redo after it sends again every piece listed, and only those."""
    new = _pieces(taken, _count(pieces), feed)
    if not pieces:
        conn.execute("SAVEPOINT chunk")
    pieces += new
    for piece in new:
        _send(conn, piece)


def _pieces(taken: list[tuple[Row, Row]], first: int, feed: str) -> list[_Piece]:
    """`taken` (at positions from `first` on) as the pieces to send: the columns changed in any of its
    rows, in statements of at most JSON_BYTES of JSON (a longer row alone)."""
    olds, news = zip(*taken, strict=True)
    # column by column, the tuples compared in C: the columns that changed in any row (at least the
    # version, which every write bumps), after the id
    was, now = zip(*olds, strict=True), zip(*news, strict=True)
    changed = [i for i, (a, b) in enumerate(zip(was, now, strict=True)) if a != b and i != _ID]
    columns = (_ID, *changed)
    names = [STORED_COLUMNS[i] for i in columns]
    pick = operator.itemgetter(*columns)  # a tuple: there are two columns at least
    out: list[_Piece] = []
    size = 0
    for position, new in enumerate(news, first):
        row = _encode(dict(zip(names, pick(new), strict=True)))
        if not out or (size + len(row) > JSON_BYTES and out[-1].positions):
            out.append(_Piece([], columns, [], feed))
            size = 0
        out[-1].positions.append(position)
        out[-1].encoded.append(row)
        size += len(row) + 1
    return out


def _send(conn: Any, piece: _Piece) -> None:
    conn.execute(_update_sql(piece.columns, piece.feed), ((b"[%b]" % b",".join(piece.encoded)).decode(),))


@functools.lru_cache(maxsize=64)
def _update_sql(columns: tuple[int, ...], feed: str) -> str:
    sets = ", ".join([*(f"{STORED_COLUMNS[i]} = s.{STORED_COLUMNS[i]}" for i in columns if i != _ID), feed])
    return (
        f"UPDATE outreach AS o SET {sets} "
        "FROM json_populate_recordset(NULL::outreach, ?::json) AS s WHERE o.id = s.id"
    )


def _halving(
    conn: Any,
    pieces: list[_Piece],
    refused: Callable[[int, BaseException], None],
    integrity_error: type[BaseException],
) -> int:
    """The pieces written again after a refusal: each statement in a savepoint of its own, and a
    refused one redone on each half of its rows, down to the refused row alone."""
    todo = pieces[::-1]  # last pushed, first done
    count = 0
    while todo:
        piece = todo.pop()
        conn.execute("SAVEPOINT chunk")
        try:
            _send(conn, piece)
        except integrity_error as exc:
            conn.execute("ROLLBACK TO chunk; RELEASE chunk")
            if len(piece.positions) == 1:
                refused(piece.positions[0], exc)
            else:
                half = len(piece.positions) // 2
                todo += [
                    _Piece(piece.positions[half:], piece.columns, piece.encoded[half:], piece.feed),
                    _Piece(piece.positions[:half], piece.columns, piece.encoded[:half], piece.feed),
                ]
            continue
        conn.execute("RELEASE chunk")
        count += len(piece.positions)
    return count
