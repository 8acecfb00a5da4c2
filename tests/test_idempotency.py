"""Idempotency-Key on POST /job: the same key gets the same job back, across restarts too."""

from __future__ import annotations

import pytest

from jobservice.http.keys import STORE

from .conftest import Client, StartApp, run_to_end

pytestmark = pytest.mark.stores


async def post(client: Client, key: str, data: object = 1) -> tuple[int, dict[str, object]]:
    response = await client.post("/job", json={"data": data}, headers={"Idempotency-Key": key})
    job: dict[str, object] = await response.json()
    return response.status, job


@pytest.mark.stores("files")
async def test_a_repeated_key_returns_the_existing_job_with_200(client: Client) -> None:
    status, job = await post(client, "order-17")
    assert status == 201 and job["idempotency_key"] == "order-17"
    again_status, again = await post(client, "order-17", data="something else")
    assert again_status == 200
    assert again["id"] == job["id"] and again["data"] == 1
    other_status, other = await post(client, "order-18")
    assert other_status == 201 and other["id"] != job["id"]
    assert len(client.app[STORE]) == 2


async def test_the_key_survives_a_restart(client: Client, start_app: StartApp) -> None:
    _, job = await post(client, "k")
    await run_to_end(client, str(job["id"]))
    await client.close()
    client = await start_app()
    status, again = await post(client, "k")
    assert status == 200 and again["id"] == job["id"] and again["status"] == "succeeded"


@pytest.mark.stores("files")
async def test_an_empty_or_long_key_is_a_400(client: Client) -> None:
    for key in ("", "x" * 256):
        status, body = await post(client, key)
        assert status == 400 and "Idempotency-Key" in str(body["error"])
    assert len(client.app[STORE]) == 0
