"""The create ceiling: the least a POST /messages can do on this stack.

FastAPI validates the same body with pydantic, checks the Bearer token, and does
one Redis write; nothing else. Run the same way as the service, one process:

    BENCH_REDIS_URL=redis://127.0.0.1:6379/0 API_TOKEN=... \\
    uvicorn bench.ceiling_app:app --host 127.0.0.1 --port 8001 --loop uvloop --http httptools
"""

from __future__ import annotations

import hmac
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import FastAPI, Header, HTTPException
from pydantic import AnyHttpUrl, BaseModel, Field

_TOKEN = os.environ["API_TOKEN"].encode()
_REDIS_URL = os.environ["BENCH_REDIS_URL"]


class Message(BaseModel):
    id: str = Field(min_length=1, max_length=256)
    scheduleTo: datetime
    payload: dict[str, Any]
    webhookUrl: AnyHttpUrl


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.redis = aioredis.Redis.from_url(_REDIS_URL, max_connections=128)
    yield
    await app.state.redis.aclose()


app = FastAPI(lifespan=lifespan)


@app.post("/messages")
async def create(message: Message, authorization: Annotated[str, Header()] = "") -> dict[str, str]:
    if not hmac.compare_digest(authorization.removeprefix("Bearer ").encode(), _TOKEN):
        raise HTTPException(status_code=401, detail="invalid token")
    stored = await app.state.redis.set(f"ceiling:{message.id}", message.model_dump_json(), nx=True)
    if not stored:
        raise HTTPException(status_code=409, detail="id exists")
    return {"status": "scheduled", "messageId": message.id}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "healthy"}
