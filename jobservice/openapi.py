"""The OpenAPI 3.1 description of the HTTP API, served at /openapi.json. Keep it accurate."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import __version__, codec
from .dashboard import FILES as DASHBOARD_FILES
from .models import Status

JSON = "application/json"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}, **extra}


def error(description: str) -> dict[str, Any]:
    return json_body(ref("Error"), description)


BAD_BODY = "The body is empty, not JSON, not an object, has no data, or nests over 200 levels"
UNAUTHORIZED = error("API_TOKEN is set and the request has no valid token")
JOB_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The job's id, as returned by POST /job",
    "schema": {"type": "string"},
}
PUBLIC: list[dict[str, list[str]]] = []  # no auth, even with API_TOKEN set

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "What went wrong"}},
    },
    "NewJob": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"description": "Any JSON value: the job's input"}},
    },
    "Job": {
        "type": "object",
        "required": ["id", "status", "created", "updated", "data"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": [status.value for status in Status]},
            "created": {"type": "integer", "description": "Milliseconds since the epoch"},
            "updated": {"type": "integer", "description": "Milliseconds since the epoch"},
            "data": {"description": "The data the job was created with"},
            "output": {"type": "array", "items": ref("Step"), "description": "Once started"},
            "attempts": {"type": "integer", "minimum": 1, "description": "Runs so far"},
            "error": {"type": "string", "description": "Why a failed job failed"},
        },
    },
    "Step": {
        "type": "object",
        "required": ["step", "timestamp", "processingTime", "data"],
        "properties": {
            "step": {"type": "integer", "minimum": 1},
            "timestamp": {"type": "integer"},
            "processingTime": {"type": "integer", "description": "Milliseconds since started"},
            "data": {"description": "What the handler reported"},
        },
    },
    "ServerEvent": {
        "type": "object",
        "description": "One event of the stream (schema per event). `data` is JSON with a "
        "`type`; every field of a stream event is a string, `initial` carries the job.",
        "required": ["data"],
        "properties": {
            "data": {"type": "string", "contentMediaType": JSON},
            "id": {"type": "string", "description": "The Redis stream id; none on initial"},
            "event": {"const": "message"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "ok"}},
    },
    "Checks": {
        "type": "object",
        "description": 'Each check\'s result: "ok", or why it failed',
        "properties": {name: {"type": "string"} for name in ("redis", "data_dir", "workers")},
        "additionalProperties": {"type": "string"},
    },
    "Ready": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {"status": {"const": "ready"}, "checks": ref("Checks")},
    },
    "NotReady": {
        "type": "object",
        "required": ["error", "checks"],
        "properties": {"error": {"type": "string"}, "checks": ref("Checks")},
    },
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
            "The body must be a JSON object with a `data` field; Content-Type is not checked.",
            "operationId": "createJob",
            "requestBody": {"required": True, "content": {JSON: {"schema": ref("NewJob")}}},
            "responses": {
                "201": json_body(
                    ref("Job"),
                    "The job, pending",
                    headers={"Location": {"schema": {"type": "string"}}},
                ),
                "400": error(BAD_BODY),
                "401": UNAUTHORIZED,
                "413": error("The body is larger than MAX_BODY_BYTES"),
                "503": error("The job could not be stored; it was not created"),
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
                "404": error("No job has that id"),
            },
        }
    },
    "/job/{id}/stream": {
        "get": {
            "summary": "Watch a job's events (Server-Sent Events)",
            "description": "An `initial` event with the job, then its events from Redis "
            "(`started`, `progress`, `restarted`, then `completed` or `error`), each with its "
            "stream id as `id:`. The response ends after the final event.",
            "operationId": "streamJob",
            "security": [{"bearer": []}, {"queryToken": []}],
            "parameters": [
                JOB_ID,
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "description": "Resume after this event; no initial event is sent",
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": {
                    "description": "The event stream",
                    "content": {"text/event-stream": {"schema": ref("ServerEvent")}},
                },
                "204": {"description": "Last-Event-ID was the job's final event"},
                "401": UNAUTHORIZED,
                "404": error("No job has that id"),
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

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "jobservice",
        "version": __version__,
        "description": "Submit work over HTTP, watch it happen over SSE, get the result. "
        "With API_TOKEN set, send `Authorization: Bearer <token>`; event streams also take "
        "`?token=`. Every response carries an `X-Request-ID` header.",
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


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(SPEC, dumps=codec.dumps_str)
