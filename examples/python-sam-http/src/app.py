"""An HTTP API's one function: GET /hello, GET /items/{id}, POST /items (a JSON body).

API Gateway HTTP APIs send payload format 2.0 events: `routeKey` names the route that matched,
`pathParameters` holds {id}, `body` the request body (base64 when `isBase64Encoded`).
"""

import base64
import json
import os
import uuid


def handler(event, context):
    route = event.get("routeKey")
    if route == "GET /hello":
        name = (event.get("queryStringParameters") or {}).get("name", "world")
        return _json(200, {"message": f"{os.environ.get('GREETING', 'Hello')}, {name}!"})
    if route == "GET /items/{id}":
        item_id = event["pathParameters"]["id"]
        return _json(200, {"id": item_id, "name": f"item {item_id}"})
    if route == "POST /items":
        return _create(event)
    return _json(404, {"message": "Not Found"})


def _create(event):
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    try:
        item = json.loads(body)
    except ValueError:
        return _json(400, {"message": "the body must be JSON"})
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return _json(400, {"message": 'expected {"name": "..."}'})
    return _json(201, {"id": str(uuid.uuid4()), **item})


def _json(status, value):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(value),
    }
