"""The browser path, proven from day one: the real page in Debian's chromium."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.browser
def test_home_page_shows_the_map_title_and_navigation(live_server: str, page: Any) -> None:
    response = page.goto(live_server + "/")

    assert response.status == 200
    assert "Rare Disease Day" in page.title()
    assert page.get_by_role("link", name="Add your event").is_visible()
    assert page.get_by_role("heading", level=1).inner_text().strip() != ""
    assert page.page_errors == []
