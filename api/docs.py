"""`/docs` served from the package: Swagger UI's files come from swagger-ui-bundle-v2, not a CDN.

FastAPI's own /docs page loads Swagger UI (and its favicon) from the internet, so it is blank on
a machine without it. This is FastAPI's "self-hosting JavaScript and CSS for docs" recipe, with
only the three files the page needs exposed. ReDoc has no packaged build we ship, so /redoc is off.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from starlette.exceptions import HTTPException
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"
_FILES = {  # name in the URL -> (file in the bundle, media type)
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def add_docs(app: FastAPI, docs_url: str = "/docs") -> None:
    """Swagger UI at `docs_url` (with its OAuth2 redirect page, as FastAPI has it) over the app's
    own /openapi.json; create the app with `docs_url=None, redoc_url=None`."""
    redirect_url = app.swagger_ui_oauth2_redirect_url

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")  # behind a proxy prefix, as FastAPI does
        return get_swagger_ui_html(
            openapi_url=root + app.openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + redirect_url if redirect_url else None,
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    if redirect_url:
        @app.get(redirect_url, include_in_schema=False)
        async def oauth2_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get(ASSETS + "/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        if name not in _FILES:  # a fixed list: nothing else in the bundle's folder is reachable
            raise HTTPException(404, f"no such docs asset: {name}")
        return FileResponse(swagger_ui_path / name, media_type=_FILES[name],
                            headers={"Cache-Control": "public, max-age=86400"})
