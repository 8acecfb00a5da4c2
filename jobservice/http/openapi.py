"""The OpenAPI 3.1 description of the HTTP API, served at /openapi.json. Keep it accurate."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import __version__
from ..core import codec
from ..core.models import Status
from ..core.request import MAX_KEY_CHARS
from .dashboard import FILES as DASHBOARD_FILES
from .keys import REGISTRY, SETTINGS
from .listing import DEFAULT_LIMIT
from .schemas import JSON, SCHEMAS, ref, with_job_types
from .validation import IDEMPOTENCY_KEY, MAX_PAGE

SSE = "text/event-stream"


def json_body(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}, **extra}


def error(description: str, **extra: Any) -> dict[str, Any]:
    return json_body(ref("Error"), description, **extra)


def header(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {name: {"schema": schema, "description": description}}


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


BAD_BODY = (
    "The body is empty, cannot be read, not JSON, not an object, has no data, holds an "
    "integer outside 64 bits, or nests over 200 levels; a field is of the wrong type or out "
    f"of range; the type is unknown; or {IDEMPOTENCY_KEY} is not 1 to {MAX_KEY_CHARS} "
    "characters of UTF-8"
)
UNAUTHORIZED = error(
    "API_TOKEN is set and the request has no valid token",
    headers=header("WWW-Authenticate", {"type": "string"}, 'Bearer realm="jobservice"'),
)
RETRY_AFTER = header("Retry-After", {"type": "integer"}, "Seconds to wait before retrying")
NOT_FOUND = error("No job has that id")
LOCATION = {"Location": {"schema": {"type": "string"}, "description": "/job/{id}"}}
JOB_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The job's id, as returned by POST /job",
    "schema": {"type": "string"},
}
LAST_EVENT_ID = {
    "name": "Last-Event-ID",
    "in": "header",
    "description": "Resume after this event (a stream id); one that is not a stream id is ignored",
    "schema": {"type": "string"},
}
PUBLIC: list[dict[str, list[str]]] = []  # no auth, even with API_TOKEN set
STREAM_AUTH: list[dict[str, list[str]]] = [{"bearer": []}, {"queryToken": []}]
# The Redis store only: the job runs in another process.
CANCEL_REQUESTED = json_body(
    ref("Job"),
    "The job runs in another process, which has the cancel request but has not ended the job "
    "within a few seconds; it will end cancelled (its stream says when). The job as it is now",
)
CANCEL_RESPONSES = {
    "200": json_body(ref("Job"), "The job, now cancelled"),
    "202": CANCEL_REQUESTED,
    "401": UNAUTHORIZED,
    "404": NOT_FOUND,
    "409": error("The job has already ended (succeeded, failed or cancelled)"),
    "503": error("The cancellation could not be stored"),
}
STREAM_RESPONSE = {
    "description": "The event stream",
    "content": {SSE: {"schema": ref("ServerEvent")}},
}

DASHBOARD: dict[str, Any] = {
    "summary": "The live dashboard",
    "description": "A static page; it asks for the token and sends it with its API calls.",
    "security": PUBLIC,
    "responses": {
        "200": {
            "description": "An HTML page",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    },
}

PATHS: dict[str, Any] = {
    "/job": {
        "post": {
            "summary": "Create a job",
            "description": "Stores the job durably, queues it, and answers once it is on disk. "
            "The body must be a JSON object with a `data` field; Content-Type is not checked. "
            f"A repeated {IDEMPOTENCY_KEY} gets the job created with it (200), not a new one.",
            "operationId": "createJob",
            "parameters": [
                {
                    "name": IDEMPOTENCY_KEY,
                    "in": "header",
                    "description": "Makes the POST safe to repeat: a known key answers its job",
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS},
                }
            ],
            "requestBody": {"required": True, "content": {JSON: {"schema": ref("NewJob")}}},
            "responses": {
                "201": json_body(ref("Job"), "The new job, pending", headers=LOCATION),
                "200": json_body(
                    ref("Job"),
                    f"The job already created with this {IDEMPOTENCY_KEY}",
                    headers=LOCATION,
                ),
                "400": error(BAD_BODY),
                "401": UNAUTHORIZED,
                "413": error("The body is larger than MAX_BODY_BYTES"),
                "429": error(
                    "The queue is full (QUEUE_LIMIT jobs wait); retry after Retry-After seconds",
                    headers=RETRY_AFTER,
                ),
                "503": error("The job could not be stored; it was not created"),
            },
        }
    },
    "/jobs": {
        "get": {
            "summary": "List jobs, newest first",
            "description": "Pages of jobs by creation, newest first, each as GET /job/{id} "
            "shows it. Pass `next_cursor` as `cursor` for the next page.",
            "operationId": "listJobs",
            "parameters": [
                query(
                    "status",
                    {"enum": ["", *(status.value for status in Status)]},
                    "Only jobs with this status (empty: any status, as when left out)",
                ),
                query("type", {"type": "string"}, "Only jobs of this type"),
                query(
                    "limit",
                    {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_PAGE,
                        "default": DEFAULT_LIMIT,
                    },
                    "The page size",
                ),
                query("cursor", {"type": "string"}, "The previous page's next_cursor"),
            ],
            "responses": {
                "200": json_body(ref("JobPage"), "A page of jobs"),
                "400": error("A parameter is unknown or not valid, or the cursor not ours"),
                "401": UNAUTHORIZED,
            },
        }
    },
    "/job/{id}": {
        "get": {
            "summary": "Get a job",
            "operationId": "getJob",
            "parameters": [JOB_ID],
            "responses": {
                "200": json_body(ref("Job"), "The job as it is now"),
                "401": UNAUTHORIZED,
                "404": NOT_FOUND,
            },
        },
        "delete": {
            "summary": "Delete a job",
            "description": "A pending or running job is cancelled first (its watchers get "
            "`cancelled`); then the job and its event stream are removed, GET /job/{id} "
            "answers 404, and the feed (GET /events) announces it with a `deleted` event. "
            "To stop a job and keep it, use POST /job/{id}/cancel.",
            "operationId": "deleteJob",
            "parameters": [JOB_ID],
            "responses": {
                "202": {
                    **CANCEL_REQUESTED,
                    "description": CANCEL_REQUESTED["description"]
                    + "; it is not deleted: delete it again once it has ended",
                },
                "204": {"description": "The job is gone"},
                "401": UNAUTHORIZED,
                "404": NOT_FOUND,
                "503": error("The deletion could not be stored"),
            },
        },
    },
    "/job/{id}/cancel": {
        "post": {
            "summary": "Cancel a job",
            "description": "A pending job leaves the queue; a running job's handler is "
            "cancelled, in whichever process runs it. A `cancelled` event ends the job's open "
            "streams. The job is kept, with status cancelled (DELETE /job/{id} removes it).",
            "operationId": "cancelJob",
            "parameters": [JOB_ID],
            "responses": CANCEL_RESPONSES,
        }
    },
    "/job/{id}/stream": {
        "get": {
            "summary": "Watch a job's events (Server-Sent Events)",
            "description": "An `initial` event with the job, then its events from Redis "
            "(`started`, `progress`, `restarted`, `retry`, `stalled`, then `completed`, `error` "
            "or `cancelled`), each with its stream id as `id:`. The response ends after the "
            "final event. With Last-Event-ID there is no `initial` event.",
            "operationId": "streamJob",
            "security": STREAM_AUTH,
            "parameters": [JOB_ID, LAST_EVENT_ID],
            "responses": {
                "200": STREAM_RESPONSE,
                "204": {"description": "Last-Event-ID was the job's final event"},
                "401": UNAUTHORIZED,
                "404": NOT_FOUND,
            },
        }
    },
    "/events": {
        "get": {
            "summary": "Watch every job's events (Server-Sent Events)",
            "description": "The events of all jobs, `created` and `deleted` included, each "
            "with its feed id as `id:`. Without Last-Event-ID, only those published from now "
            "on. The response does not end by itself.",
            "operationId": "events",
            "security": STREAM_AUTH,
            "parameters": [LAST_EVENT_ID],
            "responses": {
                "200": STREAM_RESPONSE,
                "401": UNAUTHORIZED,
                "503": error("Redis is unreachable, so the feed has no starting point"),
            },
        }
    },
    "/healthz": {
        "get": {
            "summary": "Liveness: the process answers",
            "operationId": "healthz",
            "security": PUBLIC,
            "responses": {"200": json_body(ref("Health"), "Always, while the process serves")},
        }
    },
    "/readyz": {
        "get": {
            "summary": "Readiness: Redis answers, the data dir is writable, workers run",
            "operationId": "readyz",
            "security": PUBLIC,
            "responses": {
                "200": json_body(ref("Ready"), "Every check passed"),
                "503": json_body(ref("NotReady"), "A check failed; `error` names it"),
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics",
            "operationId": "metrics",
            "responses": {
                "200": {
                    "description": "Prometheus text format 0.0.4",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "401": UNAUTHORIZED,
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "operationId": "openapi",
            "responses": {
                "200": json_body({"type": "object"}, "The OpenAPI document"),
                "401": UNAUTHORIZED,
            },
        }
    },
    "/docs": {
        "get": {
            "summary": "This document as a readable page",
            "operationId": "docs",
            "responses": {
                "200": {
                    "description": "An HTML page",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                },
                "401": UNAUTHORIZED,
            },
        }
    },
    "/favicon.ico": {
        "get": {
            "summary": "The dashboard's icon",
            "operationId": "favicon",
            "security": PUBLIC,
            "responses": {
                "200": {
                    "description": "An SVG image",
                    "content": {"image/svg+xml": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/": {"get": DASHBOARD | {"operationId": "dashboardRoot"}},
    "/dashboard": {"get": DASHBOARD | {"operationId": "dashboard"}},
    "/dashboard/{file}": {
        "get": {
            "summary": "One of the dashboard's scripts or styles",
            "operationId": "dashboardFile",
            "security": PUBLIC,
            "parameters": [
                {
                    "name": "file",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": sorted(DASHBOARD_FILES)},
                }
            ],
            "responses": {
                "200": {
                    "description": "The file",
                    "content": {
                        "text/javascript": {"schema": {"type": "string"}},
                        "text/css": {"schema": {"type": "string"}},
                        "text/html": {"schema": {"type": "string"}},
                    },
                },
                "404": error("No dashboard file has that name"),
            },
        }
    },
}

ABOUT = "Submit work over HTTP, watch it happen over SSE, get the result. "
WITH_TOKEN = (
    "This server has an API token: send `Authorization: Bearer <token>`; event streams "
    "also take `?token=`. "
)
WITHOUT_TOKEN = "This server needs no token (API_TOKEN is not set). "
REQUEST_IDS = "Every response carries an `X-Request-ID` header."

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "jobservice",
        "version": __version__,
        "description": ABOUT + WITH_TOKEN + REQUEST_IDS,
    },
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
        },
    },
    "security": [{"bearer": []}],
}


def document(job_types: list[str], token: bool) -> dict[str, Any]:
    """SPEC for a server with these job types (POST /job refuses any other), with or
    without an API token: the document a server serves describes that server."""
    components = {**SPEC["components"], "schemas": with_job_types(SCHEMAS, job_types)}
    spec = {**SPEC, "components": components}
    return spec if token else without_token(spec)


def without_token(spec: dict[str, Any]) -> dict[str, Any]:
    """No security requirement anywhere, no 401 answers and no security schemes."""
    paths = {
        path: {method: _open(operation) for method, operation in operations.items()}
        for path, operations in spec["paths"].items()
    }
    schemes = "securitySchemes"
    components = {name: v for name, v in spec["components"].items() if name != schemes}
    info = {**spec["info"], "description": ABOUT + WITHOUT_TOKEN + REQUEST_IDS}
    rest = {name: value for name, value in spec.items() if name != "security"}
    return {**rest, "info": info, "paths": paths, "components": components}


def _open(operation: dict[str, Any]) -> dict[str, Any]:
    responses = {status: r for status, r in operation["responses"].items() if status != "401"}
    kept = {name: value for name, value in operation.items() if name != "security"}
    return {**kept, "responses": responses}


def served_document(app: web.Application) -> dict[str, Any]:
    return document(app[REGISTRY].names, token=bool(app[SETTINGS].api_token))


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(served_document(request.app), dumps=codec.dumps_str)
