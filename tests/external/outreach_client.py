"""The code under test in this outside project: a small client of the MassProspecting outreach API,
written against the public form its Ruby client uses (api_key in the JSON body, the record under desc)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


class OutreachAPIError(Exception):
    """The server answered with an error envelope."""


class OutreachClient:
    def __init__(self, url: str, api_key: str) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key

    def _post(self, endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
        body = {
            "api_key": self.api_key,
            "backtrace": False,
            "id_account": None,
            "promiscuous": False,
            **params,
        }
        request = urllib.request.Request(
            f"{self.url}/api1.0/outreach/{endpoint}.json",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
        if answer["status"] != "success":
            raise OutreachAPIError(answer["status"])
        return answer

    def insert(self, desc: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._post("insert", {"desc": desc})["result"]
        return result

    def update(self, desc: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._post("update", {"desc": desc})["result"]
        return result

    def page(
        self, page: int = 1, limit: int = 25, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = self._post(
            "page", {"page": page, "limit": limit, "filters": filters or {}}
        )["results"]
        return results

    def count_pending(self) -> int:
        count: int = self._post("count", {"filters": {"status": "pending"}})["result"]
        return count
