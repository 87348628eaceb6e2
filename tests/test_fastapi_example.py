"""examples/fastapi_app.py works: driven through httpx's ASGI transport, its lifespan included.

The service runs on a fresh database of each engine (the SQL engines with
``examples.models``, the Mongo ones with ``examples.mongo_models``), filled
through its own ``POST``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples import models, mongo_models
from examples.fastapi_app import create_app
from tests.servers import ENGINES, MONGO_ENGINES, fresh_database

Scenario = Callable[[httpx.AsyncClient], Awaitable[None]]


@pytest.fixture(params=ENGINES)
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[Scenario], None]]:
    """Runs a scenario against the service on a fresh database of the engine, the app's lifespan around it."""
    engine = request.param
    model = mongo_models.Object if engine in MONGO_ENGINES else models.Object
    with fresh_database(engine, tmp_path) as url:

        def run(scenario: Scenario) -> None:
            async def main() -> None:
                app = create_app(url, model)
                # FastAPI's own lifespan: the connection opens here and closes at the end.
                async with app.router.lifespan_context(app):
                    transport = httpx.ASGITransport(app=app)
                    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                        await scenario(client)
                assert app.state.objects.connection  # the lifespan ran

            asyncio.run(main())

        yield run


async def fill(client: httpx.AsyncClient, n: int) -> None:
    replies = await asyncio.gather(
        *(client.post("/objects", json={"oid": f"ZTF{i:03d}", "ndet": i % 5}) for i in range(n))
    )
    assert [r.status_code for r in replies] == [201] * n


def test_create_is_get_or_create(service: Callable[[Scenario], None]) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        made = await client.post("/objects", json={"oid": "ZTF1", "ndet": 3, "meanra": 10.5})
        assert made.status_code == 201
        assert made.json() == {
            "oid": "ZTF1",
            "ndet": 3,
            "firstmjd": None,
            "lastmjd": None,
            "meanra": 10.5,
            "meandec": None,
        }
        again = await client.post("/objects", json={"oid": "ZTF1", "ndet": 7})
        assert again.status_code == 200 and again.json()["ndet"] == 3  # found: the defaults are not applied
        assert (await client.get("/objects/ZTF1")).json() == made.json()
        missing = await client.get("/objects/nope")
        assert missing.status_code == 404 and missing.json() == {"detail": "no object 'nope'"}

    service(scenario)


def test_list_walks_every_object_by_cursor(service: Callable[[Scenario], None]) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        await fill(client, 23)
        seen: list[str] = []
        params: dict[str, Any] = {"per_page": 10}
        while True:
            page = (await client.get("/objects", params=params)).json()
            seen += [o["oid"] for o in page["items"]]
            if page["next_cursor"] is None:
                break
            params["after"] = page["next_cursor"]
        assert seen == [f"ZTF{i:03d}" for i in range(23)]
        assert len(page["items"]) == 3

        back = (await client.get("/objects", params={"per_page": 10, "after": page["prev_cursor"]})).json()
        assert [o["oid"] for o in back["items"]] == [f"ZTF{i:03d}" for i in range(10, 20)]

        busy = (await client.get("/objects", params={"min_ndet": 4, "order_by": "-oid", "per_page": 3})).json()
        assert [o["oid"] for o in busy["items"]] == ["ZTF019", "ZTF014", "ZTF009"]

    service(scenario)


def test_bad_input_is_a_client_error_with_the_one_line_message(service: Callable[[Scenario], None]) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        await fill(client, 3)
        unknown = await client.get("/objects", params={"order_by": "colour"})
        assert unknown.status_code == 400
        assert "colour" in unknown.json()["detail"] and "\n" not in unknown.json()["detail"]

        damaged = await client.get("/objects", params={"after": "not-a-cursor"})
        assert damaged.status_code == 400 and damaged.json()["detail"].startswith("invalid cursor")

        first = (await client.get("/objects", params={"per_page": 1})).json()
        other_order = await client.get("/objects", params={"after": first["next_cursor"], "order_by": "-ndet"})
        assert other_order.status_code == 400 and "another model or ordering" in other_order.json()["detail"]

        huge = await client.post("/objects", json={"oid": "ZTF9", "ndet": 2**70})
        assert huge.status_code == 422
        assert "ndet" in huge.json()["detail"] and "\n" not in huge.json()["detail"]
        assert (await client.get("/objects/ZTF9")).status_code == 404  # refused before anything was written

        assert (await client.get("/objects", params={"per_page": 0})).status_code == 422  # FastAPI's own check

    service(scenario)
