"""mass_outreach: an embedded store for MassProspecting outreach records, on SQLite or PostgreSQL.

Light to import: no network module (the HTTP fake in `mass_outreach.server`, the HTTP client behind
`url_policy="reachable"`, asyncio under the async API, which loads ssl) is loaded until it is used;
tests/meta/test_imports.py holds it to that.

import mass_outreach as mo
with mo.open("outreach.db") as store:
    rec = store.insert({"outreach_type": "LinkedIn_DirectMessage", "status": "pending"})
"""

from typing import TYPE_CHECKING, Any

from .errors import (
    BusyError,
    ConflictError,
    NotFoundError,
    OutreachError,
    SchemaError,
    StorageError,
    ValidationError,
)
from .import_check import CheckReport, check_file
from .importing import ImportReport, import_file
from .model import (
    BODY_TYPES,
    DIRECTIONS,
    EMAIL_TYPES,
    OUTREACH_TYPES,
    SKIP_REPLIERS,
    STATUSES,
    Outreach,
)
from .paging import Page
from .store import InsertReport, OutreachStore, UpdateReport, UpsertReport, open
from .sync.feed import ApplyReport
from .sync.run import SyncReport, sync
from .transfer import CopyReport, copy

if TYPE_CHECKING:
    from .aio import AsyncOutreachStore, open_async

__version__ = "0.1.0"

__all__ = [
    "BODY_TYPES",
    "DIRECTIONS",
    "EMAIL_TYPES",
    "OUTREACH_TYPES",
    "SKIP_REPLIERS",
    "STATUSES",
    "ApplyReport",
    "AsyncOutreachStore",
    "BusyError",
    "CheckReport",
    "ConflictError",
    "CopyReport",
    "ImportReport",
    "InsertReport",
    "NotFoundError",
    "Outreach",
    "OutreachError",
    "OutreachStore",
    "Page",
    "SchemaError",
    "StorageError",
    "SyncReport",
    "UpdateReport",
    "UpsertReport",
    "ValidationError",
    "check_file",
    "copy",
    "import_file",
    "open",
    "open_async",
    "sync",
]


_LAZY = ("AsyncOutreachStore", "open_async")


def __getattr__(name: str) -> Any:
    """The async API (mass_outreach.aio), imported on first use: asyncio loads ssl."""
    if name in _LAZY:
        from . import aio

        return getattr(aio, name)
    raise AttributeError(f"module 'mass_outreach' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
