"""Columnar reads: records as Arrow tables and record batches, Parquet files, pandas and polars frames.

pyarrow is the optional extra `mass_outreach[arrow]`, imported when one of these is first called (so
`import mass_outreach` never loads it). Rows come from the store's keyset walk (selecting.row_batches,
through the engine's read connections) a batch at a time, and each column of a batch becomes one Arrow
array with its type set here: text as strings, timestamps parsed from their stored text by Arrow itself
(vectorised) into `timestamp('us', tz='UTC')`, enums as dictionary columns over their fixed values (the
same dictionary in every batch), `approved` as bool, `version` as int64; NULL is null.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .backends import Engine
from .errors import OutreachError, StorageError, ValidationError
from .model import ENUMS, NOT_NULL, TIME_FIELDS, check_flag
from .selecting import check_batch_size, check_columns, row_batches, selection

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DEFAULT_BATCH", "MAX_BATCH", "MissingExtraError", "batches", "schema", "table", "write_parquet"]

DEFAULT_BATCH = 10_000
MAX_BATCH = 1_000_000
READ_ROWS = 2_000  # rows a read fetches and converts at once (see _built)
#: the batches of to_arrow's table and the row groups of a Parquet export: fewer, larger chunks
WHOLE_BATCH = 65_536
#: columns that are never NULL: the schema's fields say so (nullable=False)
_REQUIRED = NOT_NULL | {"id", "create_time", "update_time", "version"}


class MissingExtraError(OutreachError, ImportError):
    """A columnar read needs a library that is not installed: the message names the extra to install."""


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.compute  # index_in, for the dictionary columns
    except ImportError:
        raise MissingExtraError(
            "Arrow and Parquet need pyarrow: pip install 'mass_outreach[arrow]'."
        ) from None
    return pyarrow


def needing(module: str, extra: str) -> Any:
    """Import `module` for a convenience, or the error naming what to install."""
    try:
        return __import__(module)
    except ImportError:
        raise MissingExtraError(f"This needs {module}: pip install {extra}.") from None


def _field_type(pa: Any, name: str) -> Any:
    if name in TIME_FIELDS:
        return pa.timestamp("us", tz="UTC")
    if name in ENUMS:
        return pa.dictionary(pa.int8(), pa.string())
    if name == "approved":
        return pa.bool_()
    if name == "version":
        return pa.int64()
    if name == "body":  # up to 1 MB a record: 64-bit offsets, so no batch outgrows a column
        return pa.large_string()
    return pa.string()


def schema(columns: tuple[str, ...]) -> pa.Schema:
    """The Arrow schema of these columns (every one of model.COLUMNS has a type here)."""
    pa = _pyarrow()
    return pa.schema([pa.field(n, _field_type(pa, n), nullable=n not in _REQUIRED) for n in columns])


#: an enum column read as its value's position in the model's values (the dictionary's index)
CODES = {
    name: f"CASE {name} {' '.join(f'WHEN {value!r} THEN {i}' for i, value in enumerate(values))} END"
    for name, values in ENUMS.items()
}
#: the small columns (the enums and approved), read together as one integer a row, which the drivers
#: hand over as one cell instead of six: each enum's code in 3 bits (7: NULL), approved in one bit
SMALL = (*ENUMS, "approved")
_SHIFT = {name: 3 * i for i, name in enumerate(SMALL)}
_NULL_CODE = 7
assert all(len(values) < _NULL_CODE for values in ENUMS.values())


def _small_sql(names: tuple[str, ...]) -> str:
    """The SQL of one integer holding these small columns (see SMALL), the same on every engine."""
    return " + ".join(
        f"(CASE WHEN approved THEN 1 ELSE 0 END << {_SHIFT[name]})"
        if name == "approved"
        else f"(coalesce({CODES[name]}, {_NULL_CODE}) << {_SHIFT[name]})"
        for name in names
    )


class _Builder:
    """Makes record batches of `columns` from the rows of the walk. Each read's rows become one Arrow
    struct array (row by row: each row's values taken once), in the types that hold them as the
    engine's typed_rows gives them (raw); a batch's fields are then given their columns' types at once
    (vectorised): text checked as UTF-8, times parsed, the small columns taken apart."""

    def __init__(self, engine: Engine, columns: tuple[str, ...], order: str) -> None:
        self.pa = pa = _pyarrow()
        self.columns = columns
        self.schema = schema(columns)
        self.enums = {name: pa.array(values, pa.string()) for name, values in ENUMS.items()}
        #: the small columns read as one integer, in the first one's place (the order field is read
        #: as itself: the keyset continues from it)
        self.small = tuple(c for c in columns if c in SMALL and c != order)
        #: the columns a row of the walk holds, and the SQL that reads the small ones
        self.read = tuple(c for c in columns if c not in self.small[1:])
        self.reads = {self.small[0]: _small_sql(self.small)} if self.small else {}
        self.raw = pa.struct([(c, self._raw(engine, c)) for c in selection(self.read, order)])

    def _raw(self, engine: Engine, name: str) -> Any:
        pa = self.pa
        if self.small and name == self.small[0]:
            return pa.int32()
        if name == "version":
            return pa.int64()
        if name == "approved":  # the order field
            return pa.bool_() if engine.typed_flag is bool else pa.int8()
        kind = engine.typed_time if name in TIME_FIELDS else engine.typed_text
        if kind is bytes:
            return pa.large_binary() if name == "body" else pa.binary()
        if kind is str:
            return pa.large_string() if name == "body" else pa.string()
        return _field_type(pa, name)  # datetimes

    def _column(self, name: str, raw: Any) -> Any:
        """A field of the raw batch in its column's type."""
        pa = self.pa
        kind = self.schema.field(name).type
        if raw.type == kind:
            return raw
        if name in TIME_FIELDS:  # the stored text: ASCII, which the parse checks, so bytes are viewed as text
            return (raw.view(pa.string()) if pa.types.is_binary(raw.type) else raw).cast(kind)
        if name in ENUMS:  # the order field: its text
            indices = pa.compute.index_in(raw.cast(pa.string()), value_set=self.enums[name])
            return pa.DictionaryArray.from_arrays(indices.cast(pa.int8()), self.enums[name])
        return raw.cast(kind)  # UTF-8 bytes as text (checked), 0/1 as bool

    def _small(self, packed: Any) -> dict[str, Any]:
        """The arrays of the small columns from their integers (see SMALL)."""
        pa, pc = self.pa, self.pa.compute
        arrays = {}
        for name in self.small:
            bits = pc.shift_right(packed, _SHIFT[name]) if _SHIFT[name] else packed
            if name == "approved":
                arrays[name] = pc.not_equal(pc.bit_wise_and(bits, 1), 0)
                continue
            code = pc.bit_wise_and(bits, _NULL_CODE).cast(pa.int8())
            if name not in _REQUIRED:
                code = pc.if_else(pc.equal(code, _NULL_CODE), pa.scalar(None, pa.int8()), code)
            arrays[name] = pa.DictionaryArray.from_arrays(code, self.enums[name])
        return arrays

    def rows(self, rows: list[tuple[Any, ...]]) -> Any:
        """A read's rows as one struct array of the raw types."""
        return self.pa.array(rows, self.raw)

    def batch(self, raw: Any) -> Any:
        """The record batch of a struct array of rows (see rows)."""
        fields = dict(zip(self.raw.names, raw.flatten(), strict=True))
        arrays = self._small(fields[self.small[0]]) if self.small else {}
        for name in self.read:
            if name not in arrays:
                try:
                    arrays[name] = self._column(name, fields[name])
                except self.pa.ArrowInvalid as exc:  # text that is not UTF-8, a time in no form we write
                    raise StorageError(f"The database could not be read: a value of {name}: {exc}") from exc
        return self.pa.RecordBatch.from_arrays([arrays[name] for name in self.columns], schema=self.schema)


def batches(
    engine: Engine,
    filters: Mapping[str, Any] | None = None,
    columns: Any = None,
    *,
    include_deleted: bool = False,
    batch_size: int = DEFAULT_BATCH,
    order: str = "id",
    asc: bool = True,
    limit: int | None = None,
    reader: Any = None,
) -> Iterator[pa.RecordBatch]:
    """Record batches of the matching records (`batch_size` rows each, the last one fewer) in `(order,
    id)` order. Everything is checked, and pyarrow imported, before this returns. Rows are read
    READ_ROWS at a time (or a batch's, if fewer), each read only when the batch being made needs it:
    the Python objects of one read are all a batch holds besides its Arrow buffers."""
    chosen = check_columns(columns)
    size = check_batch_size(batch_size, MAX_BATCH)
    deleted = check_flag("include_deleted", include_deleted)
    builder = _Builder(engine, chosen, order)
    rows = row_batches(
        engine,
        filters,
        builder.read,
        order=order,
        asc=asc,
        batch_size=min(size, READ_ROWS),
        include_deleted=deleted,
        limit=limit,
        reader=reader,
        reads=builder.reads,
        typed=True,
    )
    first = next(rows, None)  # the filters are checked here, at the call, not at the first batch
    return _built(builder, first, rows, size)


def _built(builder: _Builder, first: Any, reads: Iterator[list[tuple[Any, ...]]], size: int) -> Iterator[Any]:
    """Batches of `size` rows (the last one fewer) from the walk's reads (`first`, then `reads`). Each
    read's rows become a struct array at once (they are Python objects scattered in memory, converted
    faster while they fit in the processor's cache), which a batch joins and then gives its columns'
    types."""
    if first is None:
        return
    pa = builder.pa
    held: list[Any] = []
    count = 0
    for rows in itertools.chain([first], reads):
        held.append(builder.rows(rows))
        count += len(rows)
        while count >= size:
            whole = held[0] if len(held) == 1 else pa.concat_arrays(held)
            yield builder.batch(whole.slice(0, size))
            rest = whole.slice(size)
            held, count = ([rest] if len(rest) else []), len(rest)
    if count:
        yield builder.batch(held[0] if len(held) == 1 else pa.concat_arrays(held))


def table(
    engine: Engine,
    filters: Mapping[str, Any] | None = None,
    columns: Any = None,
    *,
    include_deleted: bool = False,
    batch_size: int = WHOLE_BATCH,
) -> pa.Table:
    """One table of the matching records in id order, read in one snapshot (a read transaction over
    every read on one connection), so it is consistent even while others write."""
    pa = _pyarrow()
    chosen = check_columns(columns)
    with engine.read() as conn, engine.snapshot(conn, walk=False, total=True):
        parts = list(
            batches(
                engine,
                filters,
                chosen,
                include_deleted=include_deleted,
                batch_size=batch_size,
                reader=lambda: contextlib.nullcontext(conn),
            )
        )
    return pa.Table.from_batches(parts, schema=schema(chosen))


def write_parquet(path: str | os.PathLike[str], parts: Iterator[Any], columns: Any = None) -> int:
    """Write record batches to a Parquet file (snappy, as pyarrow and DuckDB write by default) through a
    temporary file beside it, renamed into place at the end: a failed export leaves no half file.
    Return how many rows went in."""
    pq = _parquet()
    chosen = check_columns(columns)
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    fd, temporary = tempfile.mkstemp(prefix=".parquet-", dir=directory)
    os.close(fd)
    try:
        # dictionary pages where values repeat (the enums, tags); statistics (min/max, for readers'
        # row-group pruning) on all but the long free texts, where they cost most and say least
        options = {
            "use_dictionary": [c for c in chosen if c in ENUMS or c == "tag"],
            "write_statistics": [c for c in chosen if c not in _FREE_TEXT],
        }
        rows = 0
        with pq.ParquetWriter(temporary, schema(chosen), **options) as writer:
            for batch in parts:
                writer.write_batch(batch)
                rows += batch.num_rows
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return rows


_FREE_TEXT = frozenset({"subject", "body", "error_description", "screenshot_url"})


def _parquet() -> Any:
    _pyarrow()
    import pyarrow.parquet

    return pyarrow.parquet


def check_parquet_target(path: str | os.PathLike[str]) -> None:
    """A file the export can write (its directory exists): else the ValidationError naming it, before
    any read."""
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(directory):
        raise ValidationError.one("output", f"The directory of '{os.fspath(path)}' does not exist.")


def frame(engine: Engine, library: str, filters: Any, columns: Any, include_deleted: bool) -> Any:
    """The matching records as a pandas or polars data frame, by way of `table` (the library checked
    first, so a missing one costs no read): enums become categoricals, times UTC datetimes."""
    module = needing(library, library)
    data = table(engine, filters, columns, include_deleted=include_deleted)
    if library == "pandas":
        return data.to_pandas()
    return module.from_arrow(data)
