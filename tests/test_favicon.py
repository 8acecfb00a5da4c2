"""/favicon.ico: the dashboard's icon, where browsers ask for one on every page load (a 404
there is an error in the browser's console). Headless Chromium asks for no icon, so this is
checked over HTTP."""

from __future__ import annotations

from xml.etree import ElementTree

from .conftest import Client, StartApp


async def test_the_icon_is_an_svg_image(client: Client) -> None:
    response = await client.get("/favicon.ico")
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/svg+xml"
    assert "max-age" in response.headers["Cache-Control"]
    root = ElementTree.fromstring(await response.read())
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox")


async def test_the_icon_needs_no_token(start_app: StartApp) -> None:
    client = await start_app(api_token="t0k")
    for method in ("GET", "HEAD"):
        assert (await client.request(method, "/favicon.ico")).status == 200
    assert (await client.post("/favicon.ico")).status == 405
