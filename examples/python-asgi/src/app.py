"""A small ASGI app (Starlette) served by Lambda through Mangum.

Mangum turns the HTTP API's payload 2.0 event into an ASGI request and the app's response into the
{"statusCode", "headers", "body"} Lambda returns; the app itself knows nothing of Lambda.
"""

from mangum import Mangum
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

NOTES: dict[str, str] = {}  # per execution environment: a warm function keeps it, a cold one starts empty


async def index(request: Request) -> JSONResponse:
    return JSONResponse({"app": "python-asgi", "routes": ["GET /", "GET /hello/{name}", "POST /notes"]})


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"message": f"Hello, {request.path_params['name']}!"})


async def create_note(request: Request) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body must be JSON"}, status_code=400)
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        return JSONResponse({"error": 'expected {"text": "..."}'}, status_code=400)
    note_id = str(len(NOTES) + 1)
    NOTES[note_id] = body["text"]
    return JSONResponse({"id": note_id, "text": body["text"]}, status_code=201)


app = Starlette(
    routes=[
        Route("/", index),
        Route("/hello/{name}", hello),
        Route("/notes", create_note, methods=["POST"]),
    ]
)

handler = Mangum(app, lifespan="off")
