"""Helpers the browser tests import (fixtures live in conftest.py)."""

VIEWPORT = {"width": 1280, "height": 800}   # the agent's screen the panel must be readable on


async def open_page(browser, server, page: str, token: str):
    tab = await browser.new_page(viewport=VIEWPORT, locale="zh-CN")
    errors = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.page_errors = errors
    await tab.goto(f"{server.http}/ui/{page}#token={token}")
    return tab
