"""GET /docs: the OpenAPI document as one self-contained HTML page (no scripts, no CDN)."""

from __future__ import annotations

from html import escape
from typing import Any

from aiohttp import web

from ..core import codec
from .openapi import served_document

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
section{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
h2{font-size:1.1rem}code,pre{font:13px ui-monospace,monospace}
pre{background:#f6f8fa;padding:.5rem;overflow:auto}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}
.method{display:inline-block;min-width:4rem;font-weight:bold;color:#0b5}
"""


def render(spec: dict[str, Any]) -> str:
    info = spec["info"]
    parts = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(info['title'])}"
        f" API</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(info['title'])} {escape(info['version'])}</h1>",
        f"<p>{escape(info.get('description', ''))}</p>",
    ]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            parts.append(_operation(method, path, operation))
    parts.append("<h2>Schemas</h2>")
    for name, schema in spec["components"]["schemas"].items():
        parts.append(f"<h3 id='{escape(name)}'>{escape(name)}</h3>{_json(schema)}")
    parts.append("</body></html>")
    return "".join(parts)


def _operation(method: str, path: str, operation: dict[str, Any]) -> str:
    parts = [
        f"<section><h2><span class=method>{method.upper()}</span><code>{escape(path)}</code>"
        f" {escape(operation.get('summary', ''))}</h2>",
        f"<p>{escape(operation.get('description', ''))}</p>",
    ]
    if operation.get("security") == []:
        parts.append("<p><em>No token needed.</em></p>")
    if operation.get("parameters"):
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
            f"<td>{escape(p.get('description', ''))}</td></tr>"
            for p in operation["parameters"]
        )
        parts.append(f"<table><tr><th>parameter</th><th>in</th><th></th></tr>{rows}</table>")
    if "requestBody" in operation:
        parts.append(f"<p>Request body:</p>{_json(operation['requestBody']['content'])}")
    rows = "".join(
        f"<tr><td>{escape(status)}</td><td>{escape(response['description'])}</td>"
        f"<td>{escape(', '.join(response.get('content', {})))}</td></tr>"
        for status, response in operation["responses"].items()
    )
    parts.append(f"<table><tr><th>status</th><th>when</th><th>type</th></tr>{rows}</table>")
    return "".join(parts) + "</section>"


def _json(value: Any) -> str:
    return f"<pre>{escape(codec.dumps_pretty(value))}</pre>"


async def docs_page(request: web.Request) -> web.Response:
    page = render(served_document(request.app))
    return web.Response(text=page, content_type="text/html")
