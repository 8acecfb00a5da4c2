"""The benchmark baseline: a bare aiohttp handler that parses the same JSON and answers 201
without storing anything. Run: python scripts/bare_server.py PORT"""

from __future__ import annotations

import sys
import uuid

from aiohttp import web

from jobservice.core import codec


async def create(request: web.Request) -> web.Response:
    body = codec.loads(await request.read())
    job = {"id": str(uuid.uuid4()), "status": "pending", "data": body["data"]}
    return web.json_response(job, status=201, dumps=codec.dumps_str)


def main() -> None:
    app = web.Application()
    app.router.add_post("/job", create)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
