"""The public API's types, pinned the way msgspec pins its own.

The `check_*` functions are never run: `make check` type-checks them (mypy --strict covers tests/),
and each `assert_type` fails it the moment a public signature or attribute changes type. The `test_*`
functions run mypy as a user's project would, from a directory of its own on a file that imports the
installed package: typed code passes, and mistakes a user makes are reported.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, assert_type

import pytest
from hypothesis.strategies import SearchStrategy

import mass_outreach as mo
from mass_outreach import model, samples, strategies
from mass_outreach.pytest_plugin import OutreachStoreFactory
from mass_outreach.server import OutreachServer

BODY = {"outreach_type": "GMail_DirectMessage", "status": "pending"}

# --- what mypy sees (never run) --------------------------------------------------------------------


def check_open(path: Path) -> None:
    assert_type(mo.open(), mo.OutreachStore)
    assert_type(
        mo.open(path, url_policy="reachable", create=False, readonly=True, timeout=2), mo.OutreachStore
    )
    assert_type(mo.open(":memory:", url_policy=lambda url: url.startswith("https://")), mo.OutreachStore)
    with mo.open(str(path)) as store:
        assert_type(store, mo.OutreachStore)
    assert_type(store.path, str)


def check_writes(store: mo.OutreachStore, data: bytes, text: str) -> None:
    rec = store.insert(BODY)
    assert_type(rec, mo.Outreach)
    assert_type(store.insert(data), mo.Outreach)
    assert_type(store.insert(text), mo.Outreach)
    assert_type(store.insert(rec), mo.Outreach)  # a record travels as itself
    assert_type(store.insert(outreach_type="LinkedIn_DirectMessage", status="pending", tag=None), mo.Outreach)
    assert_type(store.update(rec.id, status="running"), mo.Outreach)
    assert_type(store.update(rec.id, expected_version=rec.version, subject=None), mo.Outreach)
    assert_type(store.update({"id": rec.id, "status": "failed"}, expected_version=2), mo.Outreach)
    assert_type(store.update(rec), mo.Outreach)
    assert_type(store.update(id=rec.id, status="aborted"), mo.Outreach)
    assert_type(store.insert_many([BODY, data, text, rec]), mo.InsertReport)
    assert_type(store.insert_many(data, on_error="skip"), mo.InsertReport)
    assert_type(store.update_many([{"id": rec.id, "status": "running"}], on_error="raise"), mo.UpdateReport)
    assert_type(store.tags(), list[str])


def check_reports(inserted: mo.InsertReport, updated: mo.UpdateReport) -> None:
    assert_type(inserted.inserted, int)
    assert_type(inserted.rejected, list[tuple[int, list[tuple[str, str]]]])
    assert_type(updated.updated, int)
    assert_type(updated.rejected, list[tuple[int, list[tuple[str, str]]]])


def check_record(rec: mo.Outreach) -> None:
    assert_type(rec.id, str)
    assert_type(rec.outreach_type, model.OutreachType)
    assert_type(rec.status, model.Status)
    assert_type(rec.approved, bool)
    assert_type(rec.skip_repliers, model.SkipRepliers | None)
    assert_type(rec.direction, model.Direction)
    assert_type(rec.body_type, model.BodyType)
    for text in (rec.tag, rec.subject, rec.body, rec.error_description, rec.screenshot_url):
        assert_type(text, str | None)
    assert_type(rec.message_id, str | None)
    assert_type(rec.reply_to_message_id, str | None)
    assert_type(rec.create_time, datetime)
    assert_type(rec.update_time, datetime)
    assert_type(rec.done_time, datetime | None)
    assert_type(rec.version, int)


def check_reads(store: mo.OutreachStore, rec: mo.Outreach) -> None:
    assert_type(store.get(rec.id), mo.Outreach)
    assert_type(store.count(), int)
    assert_type(store.count({"status": ["pending", "running"], "tag": None}), int)
    page = store.page(
        2, limit=50, filters={"approved": True}, order="create_time", asc=False, with_total=True
    )
    assert_type(page, mo.Page)
    assert_type(page.results, list[mo.Outreach])
    assert_type(page.next_cursor, str | None)
    assert_type(page.total, int | None)
    assert_type(page.page, int | None)
    assert_type(page.limit, int)
    if page.next_cursor is not None:
        assert_type(store.page(cursor=page.next_cursor, limit=10), mo.Page)
    assert_type(store.iter(), Iterator[mo.Outreach])
    assert_type(
        store.iter({"tag": "vip"}, order="update_time", asc=False, batch_size=500), Iterator[mo.Outreach]
    )
    assert_type(store.call("count", {"filters": {}}), bytes)
    assert_type(store.call("/ajax/outreach/page.json", b"{}"), bytes)


def check_errors(store: mo.OutreachStore) -> None:
    try:
        store.update_many([])
    except mo.ValidationError as exc:
        assert_type(exc.errors, list[tuple[str, str]])
        assert_type(exc.index, int | None)
        assert_type(mo.ValidationError.one("status", "bad"), mo.ValidationError)
    except mo.ConflictError as exc:
        assert_type(exc.expected, int | None)
        assert_type(exc.actual, int | None)
        assert_type(exc.index, int | None)
    except mo.NotFoundError as exc:
        assert_type(exc.index, int | None)


def check_error_bases(
    bad: mo.ValidationError, missing: mo.NotFoundError, busy: mo.BusyError, disk: mo.StorageError
) -> tuple[ValueError, LookupError, TimeoutError, OSError, mo.OutreachError]:
    """Each error is also the built-in error a caller may already catch."""
    return bad, missing, busy, disk, mo.SchemaError("not a store")


def check_strategies() -> None:
    assert_type(strategies.outreaches(), SearchStrategy[dict[str, Any]])
    assert_type(strategies.outreaches(["vip"], max_text=200), SearchStrategy[dict[str, Any]])
    assert_type(
        strategies.updates(("vip",), max_text=strategies.MIN_MAX_TEXT), SearchStrategy[dict[str, Any]]
    )
    assert_type(strategies.page_requests(), SearchStrategy[dict[str, Any]])
    assert_type(strategies.invalid_outreaches(rules=["bad_enum"]), SearchStrategy[dict[str, Any]])
    assert_type(strategies.invalid_cases(["vip"], max_text=100), SearchStrategy[strategies.InvalidCase])
    for text in (strategies.tag_names(), strategies.screenshot_urls(), strategies.message_ids()):
        assert_type(text, SearchStrategy[str])
    assert_type(strategies.timestamps(), SearchStrategy[str])
    assert_type(strategies.RULES, dict[str, str])


def check_invalid_case(case: strategies.InvalidCase) -> None:
    assert_type(case.rule, str)
    assert_type(case.field, str)
    assert_type(case.body, dict[str, Any])


def check_samples() -> None:
    assert_type(samples.records(10), Iterator[dict[str, Any]])
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert_type(
        samples.records(10, seed=7, tags=["vip"], start=start, step=timedelta(seconds=1)),
        Iterator[dict[str, Any]],
    )


def check_fixtures(
    outreach_store: mo.OutreachStore,
    outreach_store_factory: OutreachStoreFactory,
    outreach_server: OutreachServer,
) -> None:
    assert_type(outreach_store_factory(), mo.OutreachStore)
    assert_type(
        outreach_store_factory(Path("x.db"), tags=["vip"], readonly=True, timeout=1.0), mo.OutreachStore
    )
    assert_type(outreach_server.url, str)
    assert_type(outreach_server.api_key, str)
    assert_type(outreach_server.port, int)
    assert_type(outreach_server.store, mo.OutreachStore)
    with OutreachServer(outreach_store, port=0, api_key="k") as server:
        assert_type(server, OutreachServer)
    assert_type(OutreachServer(outreach_store).start(), OutreachServer)


async def check_async(path: Path, rec: mo.Outreach) -> None:
    assert_type(mo.open_async(path, readonly=True, timeout=2, max_workers=4), mo.AsyncOutreachStore)
    assert_type(await mo.open_async(":memory:"), mo.AsyncOutreachStore)
    async with mo.open_async(str(path)) as store:
        assert_type(store, mo.AsyncOutreachStore)
        assert_type(store.sync_store, mo.OutreachStore)
        assert_type(await store.insert(BODY), mo.Outreach)
        assert_type(await store.insert(outreach_type="GMail_DirectMessage", status="pending"), mo.Outreach)
        assert_type(await store.update(rec.id, expected_version=1, status="running"), mo.Outreach)
        assert_type(await store.update({"id": rec.id, "status": "failed"}), mo.Outreach)
        assert_type(await store.update_status(rec.id, "failed"), mo.Outreach)
        assert_type(await store.upsert(rec), mo.Outreach)
        assert_type(await store.delete(rec.id, expected_version=2), mo.Outreach)
        assert_type(await store.insert_many([BODY], on_error="skip"), mo.InsertReport)
        assert_type(await store.update_many([]), mo.UpdateReport)
        assert_type(await store.upsert_many([]), mo.UpsertReport)
        assert_type(await store.purge(deleted_before="2026-01-01T00:00:00Z"), int)
        assert_type(await store.get(rec.id, include_deleted=True), mo.Outreach)
        assert_type(await store.count({"status": "pending"}), int)
        assert_type(await store.stats("status,tag", {"tag": None}), list[dict[str, Any]])
        assert_type(await store.page(limit=10, with_total=True), mo.Page)
        assert_type(await store.tags(), list[str])
        assert_type(await store.call("count"), bytes)
        assert_type(await store.changes(), dict[str, Any])
        assert_type(await store.apply_changes({}, peer="p"), mo.ApplyReport)
        assert_type(await store.checkpoint("p"), str | None)
        assert_type(await store.conflicts(), list[dict[str, Any]])
        async for one in store.iter({"status": "pending"}, batch_size=100):
            assert_type(one, mo.Outreach)
        async for page in store.pages(limit=10):
            assert_type(page, mo.Page)
        assert_type(await store.close(), None)


def check_stats(store: mo.OutreachStore) -> None:
    assert_type(store.stats(), list[dict[str, Any]])
    assert_type(
        store.stats(["status", "tag"], {"status": "pending"}, include_deleted=True), list[dict[str, Any]]
    )


# --- what a user's mypy --strict says (run) ---------------------------------------------------------

# Typed code of another project, as the README teaches it: mypy --strict must accept it as it is.
USER_CODE = '''
    from __future__ import annotations

    from typing import Any

    from hypothesis import given

    import mass_outreach as mo
    from mass_outreach import samples, strategies
    from mass_outreach.pytest_plugin import OutreachStoreFactory


    def load(store: mo.OutreachStore, rows: list[dict[str, Any]]) -> list[str]:
        """Insert the rows; on a bad one, say which row and every field at fault."""
        try:
            report = store.insert_many(rows)
        except mo.ValidationError as exc:
            where = "a row" if exc.index is None else f"row {exc.index + 1}"
            return [f"{where}: {field}: {message}" for field, message in exc.errors]
        return [f"{report.inserted} inserted"]


    def every_id(store: mo.OutreachStore) -> list[str]:
        ids: list[str] = []
        page = store.page(limit=100, filters={"status": "pending"})
        while True:
            ids.extend(rec.id for rec in page.results)
            if page.next_cursor is None:
                return ids
            page = store.page(cursor=page.next_cursor)


    def start(store: mo.OutreachStore, rec: mo.Outreach) -> int:
        try:
            return store.update(rec.id, expected_version=rec.version, status="running").version
        except mo.ConflictError as exc:
            return exc.actual or 0


    async def count_pending(target: str) -> int:
        async with mo.open_async(target) as store:
            rec = await store.insert({"outreach_type": "GMail_DirectMessage", "status": "pending"})
            seen = [r.id async for r in store.iter({"status": "pending"})]
            return len(seen) + rec.version


    def test_pending_are_counted(outreach_store_factory: OutreachStoreFactory) -> None:
        store = outreach_store_factory(tags=["vip"], url_policy="syntax")
        store.insert_many(samples.records(12, seed=3, tags=["vip"]))
        assert store.count({"status": "pending"}) + len(store.call("count")) > 0


    @given(body=strategies.outreaches(max_text=100))
    def test_any_body_goes_in(body: dict[str, Any]) -> None:
        with mo.open(":memory:") as store:
            assert store.get(store.insert(body).id).status == body["status"].lstrip(":")
'''

# The same kind of code with mistakes, each marked with the error code mypy must report on its line.
USER_MISTAKES = """
    from __future__ import annotations

    from hypothesis.strategies import SearchStrategy

    import mass_outreach as mo
    from mass_outreach import strategies
    from mass_outreach.pytest_plugin import OutreachStoreFactory


    def mistakes(store: mo.OutreachStore, rec: mo.Outreach, factory: OutreachStoreFactory) -> None:
        try:
            store.insert_many([])
        except mo.ValidationError as exc:
            print(exc.index + 1)  # E: operator
            field: str = exc.errors[0]  # E: assignment
        except mo.ConflictError as exc:
            print(exc.actual - exc.expected)  # E: operator
        store.insert(rec, status="running")  # E: call-overload
        store.update(rec, status="running")  # E: call-overload
        store.insert_many([rec], on_error="ignore")  # E: arg-type
        store.page(order=1)  # E: arg-type
        print(store.page().next_cursor.upper())  # E: union-attr
        total: str = store.count()  # E: assignment
        mo.open(":memory:", url_policy="sometimes")  # E: arg-type
        factory(readonyl=True)  # E: call-arg
        texts: SearchStrategy[str] = strategies.outreaches()  # E: assignment


    async def async_mistakes(store: mo.AsyncOutreachStore, rec: mo.Outreach) -> None:
        got: mo.Outreach = store.get(rec.id)  # E: assignment
        await store.page(order=1)  # E: arg-type
"""


# the installed mypy, as strict as make check; the config file is an empty one in the run's directory
MYPY = (
    sys.executable,
    "-m",
    "mypy",
    "--strict",
    "--config-file",
    "mypy.ini",
    "--no-pretty",
    "--no-color-output",
)


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for both runs: the second one need not check the package and its imports again."""
    return tmp_path_factory.mktemp("mypy_cache")


def _mypy(tmp_path: Path, cache: Path, source: str) -> tuple[int, str]:
    """Run the installed mypy --strict on `source` from a directory outside the project (no config of
    ours applies); its exit status and output."""
    (tmp_path / "mypy.ini").write_text("[mypy]\n")  # an empty config: no user or project config
    (tmp_path / "user_code.py").write_text(textwrap.dedent(source).lstrip())
    done = subprocess.run(
        [*MYPY, "--cache-dir", str(cache), "user_code.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.slow
def test_typed_user_code_passes_mypy_strict(tmp_path: Path, mypy_cache: Path) -> None:
    status, output = _mypy(tmp_path, mypy_cache, USER_CODE)
    assert status == 0, output
    assert "Success: no issues found in 1 source file" in output


@pytest.mark.slow
def test_user_mistakes_are_reported_by_mypy(tmp_path: Path, mypy_cache: Path) -> None:
    """The negative control: each marked line, and only those, gets the error code it is marked with."""
    lines = textwrap.dedent(USER_MISTAKES).lstrip().splitlines()
    expected = {(n, m[1]) for n, line in enumerate(lines, 1) if (m := re.search(r"# E: ([a-z-]+)$", line))}
    assert len(expected) == 14
    status, output = _mypy(tmp_path, mypy_cache, USER_MISTAKES)
    reported = {
        (int(m[1]), m[2]) for m in re.finditer(r"^user_code\.py:(\d+): error: .*\[([a-z-]+)\]$", output, re.M)
    }
    assert status == 1 and reported == expected, output
