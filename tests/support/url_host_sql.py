"""Builds SQLite's CHECK expression for "an http(s) URL with a host" (schema.sql holds its output:
test_schema.py checks the two are the same, and its test_url_rule_agrees that the DDL agrees with the
model's regex on random URLs, as test_pg_schema.py's does for PostgreSQL's).

SQLite has no regular expressions, so the authority (between `://` and the first `/`, `?` or `#`) is
cut out with substr/instr and judged with GLOB, written out in full wherever it is used (a CHECK has no
variables). A fast path first takes the common URL whose authority is a plain host.
"""

from __future__ import annotations

U = "screenshot_url"


def url_host_sql() -> str:
    s = f"substr({U}, instr({U}, ':') + 3)"
    a1 = f"substr({s}, 1, instr({s} || '/', '/') - 1)"
    x = f"replace(replace({s}, '?', '/'), '#', '/')"
    a = f"substr({x}, 1, instr({x} || '/', '/') - 1)"
    h = f"substr({a}, instr({a}, '@') + 1)"
    p = f"substr({h}, instr({h}, ']') + 1)"
    bracket = (
        f"{h} GLOB '[[]?*' AND instr({h}, ']') > 2 AND substr({h}, 2, instr({h}, ']') - 2) NOT GLOB '*[[]*' "
        f"AND ({p} = '' OR {p} GLOB ':*' AND {p} NOT GLOB ':*[^0-9]*')"
    )
    plain = (
        f"{h} NOT GLOB '*[][]*' AND {h} NOT GLOB ':*' AND {h} <> '' "
        f"AND (instr({h}, ':') = 0 OR substr({h}, instr({h}, ':') + 1) NOT GLOB '*[^0-9]*')"
    )
    fast = f"{a1} NOT GLOB '*[][:@?#]*' AND {a1} <> ''"
    return f"({fast} OR instr({h}, '@') = 0 AND ({bracket} OR {plain}))"
