"""`import mass_outreach` stays light: no network module (HTTP server or client, TLS) is loaded until
one is used, so a program that only stores records pays for none of them at start-up."""

from __future__ import annotations

import json
import subprocess
import sys

import mass_outreach as mo

NETWORK_MODULES = ("http.server", "socketserver", "urllib.request", "http.client", "ssl")

_LOADED = """
import json, sys
{imports}
print(json.dumps([m for m in {modules!r} if m in sys.modules]))
"""


def loaded_after(*imports: str) -> list[str]:
    """The network modules that a fresh interpreter holds after running `imports`."""
    code = _LOADED.format(imports="\n".join(imports), modules=NETWORK_MODULES)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def test_import_mass_outreach_loads_no_network_module() -> None:
    assert loaded_after("import mass_outreach") == []


def test_opening_a_store_and_writing_loads_no_network_module() -> None:
    imports = (
        "import mass_outreach as mo",
        "store = mo.open(':memory:')",
        "store.insert(outreach_type='GMail_DirectMessage', status='pending',"
        " screenshot_url='https://example.com/a.png')",
        "store.close()",
    )
    assert loaded_after(*imports) == []


def test_the_network_modules_load_when_they_are_used() -> None:
    """The negative control: the check above can fail (the names are the ones these features load;
    port 9 of the loopback refuses at once)."""
    served = loaded_after("from mass_outreach.server import OutreachServer")
    assert set(served) >= {"http.server", "socketserver"}
    checked = loaded_after(
        "from mass_outreach.urls import is_reachable", "is_reachable('http://127.0.0.1:9/')"
    )
    assert set(checked) >= {"urllib.request", "http.client"}
    assert "ssl" in loaded_after("import mass_outreach as mo", "mo.open_async")  # asyncio, on first use


def test_every_public_name_is_still_there() -> None:
    assert sorted(mo.__all__) == sorted(set(mo.__all__))
    for name in mo.__all__:
        assert getattr(mo, name) is not None, name
        assert name in dir(mo), name


COLUMNAR_MODULES = ("pyarrow", "pandas", "polars")

_COLUMNAR = """
import json, sys
import mass_outreach as mo, mass_outreach.cli
store = mo.open(':memory:')
store.insert(outreach_type='LinkedIn_DirectMessage', status='pending')
assert list(store.iter(columns=['status'])) == [{'status': 'pending'}]
before = [m for m in MODULES if m in sys.modules]
store.to_arrow()
print(json.dumps([before, [m for m in MODULES if m in sys.modules]]))
"""


def test_pyarrow_loads_only_for_a_columnar_read() -> None:
    """The base install is msgspec and click: importing the package and the CLI, writing, and reading
    with `iter(columns=...)` load no columnar library; `to_arrow` does (the negative control)."""
    code = f"MODULES = {COLUMNAR_MODULES!r}\n{_COLUMNAR}"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    before, after = json.loads(result.stdout)
    assert before == []
    assert "pyarrow" in after  # (pyarrow loads pandas too where it is installed)
