"""Ids held to their shape; request bodies capped; security headers on every response."""

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from ferryman.ids import loggable, valid_id, valid_stream_id
from ferryman.web.guards import BodyLimit, SecurityHeaders


@pytest.mark.parametrize("value", ["d01", "CC-2023-110001", "demo-d01-142233", "a.b_c-d", "x" * 128])
def test_ids_of_the_usual_shapes_pass(value):
    assert valid_id(value)


@pytest.mark.parametrize("value", ["X:events", "call:1", "a*", "a?b", "a[0]", "a\x00b", "a\r\nb", "a b", "", "-x",
                                   ".hidden", "x" * 129, "通话1", 12, None, "a\n"])
def test_ids_that_could_collide_glob_or_forge_a_log_line_fail(value):
    assert not valid_id(value)


@pytest.mark.parametrize("value, ok", [("0-0", True), ("1700000000000-12", True), ("1700000000000", True),
                                       ("18446744073709551615-18446744073709551615", True),
                                       ("18446744073709551616-0", False), ("1" * 23 + "-0", False),
                                       ("1-2-3", False), ("-1", False), ("$", False), ("1700000000000-0\n", False)])
def test_stream_ids_are_range_checked(value, ok):
    assert valid_stream_id(value) is ok


def test_logged_values_cannot_start_a_line_of_their_own():
    assert "\n" not in loggable("c1\r\nINFO forged") and "\\r\\n" in loggable("c1\r\nINFO forged")


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"bytes": len(await request.body())})


APP = SecurityHeaders(BodyLimit(Starlette(routes=[Route("/echo", echo, methods=["POST"])]), max_bytes=1000))


def test_bodies_up_to_the_cap_pass_and_larger_ones_get_413():
    client = TestClient(APP)
    assert client.post("/echo", content=b"x" * 1000).json() == {"bytes": 1000}
    refused = client.post("/echo", content=b"x" * 1001)
    assert refused.status_code == 413 and "1000 bytes" in refused.json()["detail"]


def test_a_streamed_body_without_length_is_cut_at_the_cap():
    def chunks():
        for _ in range(50):
            yield b"x" * 100
    assert TestClient(APP).post("/echo", content=chunks()).status_code == 413


def test_every_response_carries_the_security_headers():
    response = TestClient(APP).post("/echo", content=b"{}")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert TestClient(APP).post("/echo", content=b"x" * 5000).headers["x-frame-options"] == "DENY"
