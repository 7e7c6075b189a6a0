"""The API's documentation, for signed-in users: the OpenAPI document at /openapi.json and Swagger UI at /docs.

Swagger UI's files come from the installed package (swagger-ui-bundle-v2, pinned in pyproject.toml: Swagger UI 5,
which reads OpenAPI 3.1), never from a CDN: the page works on a hall's LAN without internet, and loads nothing
another site could change. The page and the
script that starts Swagger UI are ours and load only from this origin, as the Content-Security-Policy requires
(edge/api/guard.py: no inline script). FastAPI's own /docs, /redoc and /openapi.json are switched off (create_app);
`create_app` leaves this router out when `http.api_docs` is false, so both answer 404. None of these routes is in
the OpenAPI document.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from swagger_ui_bundle import swagger_ui_path

from edge.api.deps import signed_in

router = APIRouter(dependencies=[Depends(signed_in)], include_in_schema=False)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hallops gateway API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/start.js"></script>
</body>
</html>
"""
# validatorUrl: Swagger UI would otherwise show a badge fetched from the public validator with the document's address
START = """SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null});
"""
FILES = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript"}  # of the package, all we serve


@router.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def page() -> HTMLResponse:
    return HTMLResponse(PAGE)


@router.get("/docs/start.js")
async def start() -> Response:
    return Response(START, media_type="text/javascript")


@router.get("/docs/{name}")
async def swagger_file(name: str) -> FileResponse:
    if name not in FILES:
        raise HTTPException(404, "Not Found")
    return FileResponse(str(swagger_ui_path / name), media_type=FILES[name])
