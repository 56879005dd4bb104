"""Reading and writing the store's Parquet files with one schema per kind of record.

Every file of a kind (bars, events) is written with exactly the model's Arrow schema
(``ibbot.models.arrow_schema``), so a directory of them reads as one dataset. On the way in, a
file is checked against that schema: garbage bytes, a foreign column, a type that differs or a
missing key column is a :class:`StoreError` naming the file. A column that is missing but optional
(a field added to the model after the file was written) reads as nulls, so old files stay usable.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from ibbot.errors import StoreError
from ibbot.store.atomic import atomic_write

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "ParquetDoc",
    "conform",
    "read_parquet",
    "read_parquet_metadata",
    "write_parquet",
    "write_parquet_stream",
]


@dataclass(frozen=True, slots=True)
class ParquetDoc:
    """A file's rows (in the expected schema, without metadata) and its ibbot metadata."""

    table: pa.Table
    metadata: Mapping[str, str]


def conform(table: pa.Table, schema: pa.Schema, path: Path, required: Collection[str]) -> pa.Table:
    """``table`` in exactly ``schema``'s column order and types, or a StoreError naming ``path``."""
    names = table.column_names
    unknown = sorted(set(names) - set(schema.names))
    if unknown:
        raise StoreError(f"foreign Parquet file {path}: unexpected columns {unknown}")
    columns = []
    for field in schema:
        if field.name not in names:
            if field.name in required:
                raise StoreError(f"foreign Parquet file {path}: missing column {field.name!r}")
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        if not column.type.equals(field.type):
            raise StoreError(
                f"foreign Parquet file {path}: column {field.name!r} is {column.type}, "
                f"expected {field.type}"
            )
        if field.name in required and column.null_count:
            raise StoreError(f"corrupt Parquet file {path}: nulls in column {field.name!r}")
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def read_parquet(path: Path, schema: pa.Schema, required: Collection[str]) -> ParquetDoc:
    """Read a whole file written by :func:`write_parquet` (checked, see :func:`conform`)."""
    try:
        with pq.ParquetFile(path) as file:
            table = file.read()
    except (pa.ArrowException, OSError) as exc:
        raise StoreError(f"corrupt or unreadable Parquet file {path}: {exc}") from exc
    return ParquetDoc(conform(table, schema, path, required), _ibbot_metadata(table.schema))


def _ibbot_metadata(schema: pa.Schema) -> dict[str, str]:
    raw = schema.metadata or {}
    return {key.decode(): value.decode() for key, value in raw.items() if key.startswith(b"ibbot.")}


def read_parquet_metadata(path: Path) -> dict[str, str]:
    """The ``ibbot.*`` metadata of a file, read from its footer only."""
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise StoreError(f"corrupt or unreadable Parquet file {path}: {exc}") from exc
    return _ibbot_metadata(schema)


def _with_metadata(table: pa.Table, metadata: Mapping[str, str] | None) -> pa.Table:
    return table.replace_schema_metadata(
        {f"ibbot.{key}" if not key.startswith("ibbot.") else key: v for key, v in metadata.items()}
        if metadata
        else None
    )


def write_parquet(path: Path, table: pa.Table, metadata: Mapping[str, str] | None = None) -> None:
    """Replace ``path`` with ``table`` atomically; ``metadata`` keys are stored as ``ibbot.<key>``."""
    stored = _with_metadata(table, metadata)

    def write(tmp: Path) -> None:
        try:
            pq.write_table(stored, tmp)
        except pa.ArrowException as exc:
            raise StoreError(f"cannot encode {path}: {exc}") from exc

    atomic_write(path, write)


def write_parquet_stream(
    path: Path,
    schema: pa.Schema,
    batches: Callable[[], pa.Table | None],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Replace ``path`` atomically with the tables ``batches()`` returns until it returns None.

    Each table becomes one row group, so a large file is written with one batch in memory at a time.
    """
    stored_schema = _with_metadata(schema.empty_table(), metadata).schema

    def write(tmp: Path) -> None:
        try:
            with pq.ParquetWriter(tmp, stored_schema) as writer:
                while (table := batches()) is not None:
                    writer.write_table(table.replace_schema_metadata(stored_schema.metadata))
        except pa.ArrowException as exc:
            raise StoreError(f"cannot encode {path}: {exc}") from exc

    atomic_write(path, write)
