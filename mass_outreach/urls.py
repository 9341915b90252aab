"""The URL policy: how a store decides that a `screenshot_url` is acceptable beyond its syntax.

`"syntax"` checks form only (model.url_syntax_ok, always applied). `"reachable"` also asks the URL's
server: HEAD, then GET if HEAD is refused, with a short timeout, many URLs at once. A callable
`url -> bool` decides by itself. The store runs these checks before it takes the write lock.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal, Union

if TYPE_CHECKING:
    import urllib.request

__all__ = ["REACHABLE_TIMEOUT", "UrlPolicy", "is_reachable", "url_checker"]

REACHABLE_TIMEOUT = 5.0
MAX_WORKERS = 8

UrlPolicy = Union[Literal["syntax", "reachable"], Callable[[str], bool]]  # noqa: UP007
# Takes URLs, returns the ones the policy refuses.
Checker = Callable[[Iterable[str]], set[str]]


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    """urllib's opener, following redirects for HEAD as for GET (urllib drops the method otherwise).
    Built on first use: `import mass_outreach` loads no HTTP client until a URL is checked."""
    import urllib.request

    class _KeepHead(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
            new = super().redirect_request(req, fp, code, msg, headers, newurl)
            if new is not None and req.get_method() == "HEAD":
                new.method = "HEAD"
            return new

    return urllib.request.build_opener(_KeepHead)


def is_reachable(url: str, timeout: float = REACHABLE_TIMEOUT) -> bool:
    """True if the server answers HEAD (or, failing that, GET) with a status below 400."""
    import urllib.error
    import urllib.request

    for method in ("HEAD", "GET"):
        request = urllib.request.Request(url, method=method, headers={"User-Agent": "mass_outreach"})
        try:
            with _opener().open(request, timeout=timeout) as response:
                return bool(response.status < 400)
        except urllib.error.HTTPError:
            continue  # a server that refuses HEAD may still serve GET
        except (OSError, ValueError):
            return False
    return False


def url_checker(policy: UrlPolicy) -> Checker | None:
    """The check a policy adds to the syntax rule, or None for `"syntax"`."""
    if policy == "syntax":
        return None
    if policy == "reachable":
        test: Callable[[str], bool] = is_reachable
    elif callable(policy):
        test = policy
    else:
        raise ValueError(f"url_policy must be 'syntax', 'reachable' or a callable, not {policy!r}")

    def refused(urls: Iterable[str]) -> set[str]:
        unique = sorted(set(urls))
        if not unique:
            return set()
        if len(unique) == 1:
            return set() if _safe(test, unique[0]) else set(unique)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(unique))) as pool:
            verdicts = list(pool.map(lambda u: _safe(test, u), unique))
        return {u for u, ok in zip(unique, verdicts, strict=True) if not ok}

    return refused


def _safe(test: Callable[[str], bool], url: str) -> bool:
    try:
        return bool(test(url))
    except Exception:
        return False
