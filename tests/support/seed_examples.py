"""The three request examples of the API text (seed/outreach-api.md), verbatim, as text: the store and
wire tests send them as they stand (and as bytes), so one copy serves both."""

from __future__ import annotations

SEED_INSERT = """{
  "outreach_type": "LinkedIn_DirectMessage",
  "status": "pending",
  "approved": true,
  "direction": "outgoing",
  "tag": "important_lead",
  "subject": "Special Offer for You",
  "body": "<p>Hello, we have an offer...</p>",
  "body_type": "html",
  "screenshot_url": "https://example.com/screenshot.png"
}"""
SEED_PAGE = """{
  "page": 1,
  "limit": 50,
  "filters": {
    "status": "pending",
    "outreach_type": "LinkedIn_DirectMessage"
  },
  "order": "create_time",
  "asc": false
}"""
SEED_UPDATE = """{
  "id": "123e4567-e89b-12d3-a456-426614174000",
  "status": "running",
  "subject": "Updated Offer",
  "body": "New offer details inside!"
}"""
SEED_ID = "123e4567-e89b-12d3-a456-426614174000"
