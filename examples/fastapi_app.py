"""A small FastAPI service over the example broker's objects, on the asyncio API.

Run it from the repository root after the README's main command (which made
``settings.py`` and filled ``broker.db``), with any ASGI server::

    pip install -e ".[async,examples]"
    uvicorn examples.fastapi_app:app

``GET /objects?per_page=10&min_ndet=3`` lists objects a page at a time; the
reply's ``next_cursor`` goes back as ``?after=...`` for the next page (keyset
pagination: the same cost at any depth). ``GET /objects/{oid}`` reads one
(404 when there is none) and ``POST /objects`` stores one unless it exists
(``get_or_create``: 201 when created, 200 when found). Bad input gets the
library's one-line message: 400 for a filter, an ordering or a cursor it
refuses, 422 for a value the model cannot hold.

The connection opens at start-up and closes at shutdown (FastAPI's lifespan);
every request shares it, each awaiting its own queries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

import db_plugins
from db_plugins.aio import AsyncQuery
from db_plugins.config import load_settings
from examples.models import Object


class ObjectIn(BaseModel):
    """An object to store: the key, and the fields it starts with when it is new."""

    oid: str
    ndet: int = 0
    firstmjd: float | None = None
    lastmjd: float | None = None
    meanra: float | None = None
    meandec: float | None = None


class ObjectOut(ObjectIn):
    model_config = ConfigDict(from_attributes=True)  # read from the model's instances


class ObjectPage(BaseModel):
    items: list[ObjectOut]
    next_cursor: str | None  # ?after= for the next page; None on the last one
    prev_cursor: str | None


def create_app(config: Any = None, model: Any = Object) -> FastAPI:
    """The service on ``config`` (a URL or a ``DB_CONFIG`` section; default: the settings' ``SQL``
    section, read at start-up) serving ``model`` (the SQL or the Mongo example's ``Object``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        section = config if config is not None else load_settings().section("SQL")
        async with await db_plugins.connect_async(section) as db:
            # What dbp initdb made exists already; a database made elsewhere gets its tables.
            await db.create_db()
            app.state.objects = db.query(model)
            yield

    app = FastAPI(title="db-plugins example: objects", lifespan=lifespan)

    def objects(request: Request) -> AsyncQuery[Any]:
        return request.app.state.objects

    @app.get("/objects", response_model=ObjectPage)
    async def list_objects(
        request: Request,
        per_page: Annotated[int, Query(ge=1, le=100)] = 10,
        after: str | None = None,
        min_ndet: int | None = None,
        order_by: str = "oid",
    ) -> Any:
        where = {"ndet": {"$gte": min_ndet}} if min_ndet is not None else None
        # count=False: a page of an API needs no total, and counting costs a scan.
        page = await objects(request).paginate(
            per_page=per_page, count=False, filter_by=where, order_by=order_by, after=after
        )
        return {"items": page.items, "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor}

    @app.get("/objects/{oid}", response_model=ObjectOut)
    async def get_object(request: Request, oid: str) -> Any:
        found = await objects(request).find_one({"oid": oid})
        if found is None:
            raise HTTPException(status_code=404, detail=f"no object {oid!r}")
        return found

    @app.post("/objects", response_model=ObjectOut)
    async def create_object(request: Request, body: ObjectIn, response: Response) -> Any:
        defaults = body.model_dump(exclude={"oid"}, exclude_unset=True)
        obj, created = await objects(request).get_or_create({"oid": body.oid}, **defaults)
        response.status_code = 201 if created else 200
        return obj

    @app.exception_handler(db_plugins.ValidationError)
    async def invalid_value(request: Request, exc: db_plugins.ValidationError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    # FilterError, and a cursor or argument the query refuses: each a ValueError of one line.
    @app.exception_handler(ValueError)
    async def bad_request(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    return app


#: The service on the settings' ``SQL`` section (read at start-up): ``uvicorn examples.fastapi_app:app``.
app = create_app()
