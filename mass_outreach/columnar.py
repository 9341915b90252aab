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
import os
import tempfile
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .backends import Engine
from .errors import OutreachError, ValidationError
from .model import ENUMS, NOT_NULL, TIME_FIELDS, check_flag
from .selecting import check_columns, row_batches

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DEFAULT_BATCH", "MAX_BATCH", "MissingExtraError", "batches", "schema", "table", "write_parquet"]

DEFAULT_BATCH = 10_000
MAX_BATCH = 1_000_000
READ_ROWS = 2_000  # rows a read fetches and converts at once (see batches)
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


#: an enum column read as its value's position in the model's values (the dictionary's index): a small
#: integer, which the drivers hand over without making a string a row
CODES = {
    name: f"CASE {name} {' '.join(f'WHEN {value!r} THEN {i}' for i, value in enumerate(values))} END"
    for name, values in ENUMS.items()
}


class _Builder:
    """Makes record batches of `columns` from rows of the walk, one Arrow array a column."""

    def __init__(self, columns: tuple[str, ...], order: str = "id") -> None:
        self.pa = pa = _pyarrow()
        self.columns = columns
        self.schema = schema(columns)
        self.enums = {name: pa.array(values, pa.string()) for name, values in ENUMS.items()}
        self.coded = frozenset(c for c in columns if c in CODES and c != order)

    def _array(self, name: str, values: tuple[Any, ...]) -> Any:
        pa = self.pa
        if name in TIME_FIELDS:
            if isinstance(_first(values), str):  # the stored text (UTC, six digits, `Z`): Arrow parses it
                return pa.array(values, pa.string()).cast(pa.timestamp("us", tz="UTC"))
            return pa.array(values, pa.timestamp("us", tz="UTC"))  # datetimes (typed_rows)
        if name in ENUMS:
            dictionary = self.enums[name]
            if name in self.coded:
                indices = pa.array(values, pa.int8())
            else:
                indices = pa.compute.index_in(pa.array(values, pa.string()), value_set=dictionary)
            return pa.DictionaryArray.from_arrays(indices.cast(pa.int8()), dictionary)
        if name == "approved":  # 0 or 1 (the store's rows), or bools (typed_rows)
            if isinstance(_first(values), bool):
                return pa.array(values, pa.bool_())
            return pa.array(values, pa.int8()).cast(pa.bool_())
        return pa.array(values, self.schema.field(name).type)

    def batch(self, rows: list[tuple[Any, ...]]) -> Any:
        columns = list(zip(*rows, strict=True))
        arrays = [self._array(name, columns[i]) for i, name in enumerate(self.columns)]
        return self.pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _first(values: tuple[Any, ...]) -> Any:
    """The first value that is not None (None if there is none)."""
    return next((v for v in values if v is not None), None)


def _batch_size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_BATCH:
        return value
    raise ValidationError.one("batch_size", f"The batch_size must be an integer from 1 to {MAX_BATCH}.")


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
    id)` order. Everything is checked, and pyarrow imported, before this returns. Rows are read and
    made into arrays READ_ROWS at a time, which a batch then joins: the rows of a read are Python
    objects scattered in memory, and converting 19 columns of them read them 19 times, 3 to 4 times
    faster while they all fit in the processor's cache."""
    chosen = check_columns(columns)
    size = _batch_size(batch_size)
    deleted = check_flag("include_deleted", include_deleted)
    builder = _Builder(chosen, order)
    rows = row_batches(
        engine,
        filters,
        chosen,
        order=order,
        asc=asc,
        batch_size=min(size, READ_ROWS),
        include_deleted=deleted,
        limit=limit,
        reader=reader,
        reads={name: CODES[name] for name in builder.coded},
        typed=True,
    )
    first = next(rows, None)  # the filters are checked here, at the call, not at the first batch
    return _joined(_built(builder, first, rows), size)


def _built(builder: _Builder, first: Any, rows: Iterator[list[tuple[Any, ...]]]) -> Iterator[Any]:
    if first is None:
        return
    yield builder.batch(first)
    for batch in rows:
        yield builder.batch(batch)


def _joined(parts: Iterator[Any], size: int) -> Iterator[Any]:
    """The batches of `parts` joined into batches of `size` rows (the last one fewer)."""
    pa = _pyarrow()
    held: list[Any] = []
    count = 0
    for part in parts:
        held.append(part)
        count += part.num_rows
        while count >= size:
            whole = held[0] if len(held) == 1 else pa.concat_batches(held)
            yield whole.slice(0, size)
            rest = whole.slice(size)
            held, count = ([rest] if rest.num_rows else []), rest.num_rows
    if count:
        yield held[0] if len(held) == 1 else pa.concat_batches(held)


def table(
    engine: Engine,
    filters: Mapping[str, Any] | None = None,
    columns: Any = None,
    *,
    include_deleted: bool = False,
    batch_size: int = WHOLE_BATCH,
) -> pa.Table:
    """One table of the matching records in id order, read in one snapshot (a read transaction over
    every batch on one connection), so it is consistent even while others write."""
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
