"""JWT authorizers of HTTP APIs end to end (http-api-jwt-authorizer.html): an identity provider
on 127.0.0.1 (OpenID configuration + JWKS), tokens signed with PyJWT, requests through the server;
time on the server's manual clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from conftest import aws_error, deploy
from lambdabox.testing import LocalLambdabox

ECHO = {
    "app.py": "import json\ndef handler(event, context):\n    return {'statusCode': 200, 'body': json.dumps(event)}\n"
}
AUDIENCE = "my-app"
DROP = object()  # a claim left out of a token


class Provider:
    """An OpenID provider on 127.0.0.1: its keys (RSA and EC), the JWKS it publishes, fetch counts."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.published: list[dict[str, Any]] = [
            {**json.loads(RSAAlgorithm.to_jwk(self.rsa.public_key())), "kid": "rsa1", "use": "sig"},
            {**json.loads(ECAlgorithm.to_jwk(self.ec.public_key())), "kid": "ec1", "use": "sig"},
        ]
        self.jwks_fetches = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": provider.issuer, "jwks_uri": provider.issuer + "/keys"}
                elif self.path == "/keys":
                    provider.jwks_fetches += 1
                    body = {"keys": provider.published}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def token(
        self, now: float, *, key: Any = None, alg: str = "RS256", kid: str = "rsa1", **claims: Any
    ) -> str:
        payload = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "user-1",
            "iat": int(now),
            "exp": int(now) + 3600,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not DROP}
        return jwt.encode(payload, key if key is not None else self.rsa, algorithm=alg, headers={"kid": kid})

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(
        tmp_path_factory.mktemp("jwt") / "data",
        manual_clock=True,
        root_keys="test:test,other:other:111111111111",
    ) as server:
        yield server


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    provider = Provider()
    yield provider
    provider.close()


@pytest.fixture(scope="module")
def fn(lbx: LocalLambdabox) -> str:
    lam = lbx.client("lambda")
    return str(lam.get_function(FunctionName=deploy(lam, ECHO))["Configuration"]["FunctionArn"])


def send(
    lbx: LocalLambdabox, path: str, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    u = urlsplit(lbx.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.msg, resp.read()
    finally:
        conn.close()


def jwt_api(lbx: LocalLambdabox, fn: str, issuer: str, version: str = "2.0", **authorizer: Any) -> str:
    """An API with `GET /open` (JWT, no scopes) and `GET /admin` (JWT, scope `admin` or `root`)."""
    gw = lbx.client("apigatewayv2")
    api_id: str = gw.create_api(Name="jwt", ProtocolType="HTTP")["ApiId"]
    target = (
        "integrations/"
        + gw.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=fn, PayloadFormatVersion=version
        )["IntegrationId"]
    )
    authorizer_id = gw.create_authorizer(
        ApiId=api_id, Name="idp", AuthorizerType="JWT",
        JwtConfiguration={"Issuer": issuer, "Audience": [AUDIENCE]},
        **{"IdentitySource": ["$request.header.Authorization"], **authorizer},
    )["AuthorizerId"]  # fmt: skip
    for key, scopes in (("GET /open", []), ("GET /admin", ["admin", "root"])):
        gw.create_route(
            ApiId=api_id, RouteKey=key, Target=target, AuthorizationType="JWT",
            AuthorizerId=authorizer_id, AuthorizationScopes=scopes,
        )  # fmt: skip
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    return api_id


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_jwt_authorizers_and_routes_through_the_api(lbx: LocalLambdabox, fn: str, idp: Provider) -> None:
    gw = lbx.client("apigatewayv2")
    api_id = gw.create_api(Name="cp", ProtocolType="HTTP")["ApiId"]
    made = gw.create_authorizer(
        ApiId=api_id,
        Name="idp",
        AuthorizerType="JWT",
        JwtConfiguration={"Issuer": idp.issuer, "Audience": ["a"]},
        IdentitySource=["$request.header.Authorization"],
    )
    got = gw.get_authorizer(ApiId=api_id, AuthorizerId=made["AuthorizerId"])
    for shape in (made, got):
        assert shape["AuthorizerType"] == "JWT"
        assert shape["IdentitySource"] == ["$request.header.Authorization"]
        assert shape["JwtConfiguration"] == {"Issuer": idp.issuer, "Audience": ["a"]}
    with pytest.raises(ClientError) as exc:
        gw.create_authorizer(
            ApiId=api_id, Name="x", AuthorizerType="JWT", IdentitySource=["$request.header.A"]
        )
    assert aws_error(exc)[0::2] == ("BadRequestException", 400)
    with pytest.raises(ClientError) as exc:
        gw.create_authorizer(
            ApiId=api_id,
            Name="x",
            AuthorizerType="JWT",
            JwtConfiguration={"Issuer": "not a url"},
            IdentitySource=["$request.header.A"],
        )
    assert aws_error(exc)[0::2] == ("BadRequestException", 400)
    request = gw.create_authorizer(
        ApiId=api_id, Name="fn", AuthorizerType="REQUEST", AuthorizerUri=fn,
        AuthorizerPayloadFormatVersion="2.0", IdentitySource=["$request.header.X"],
    )["AuthorizerId"]  # fmt: skip
    with pytest.raises(ClientError) as exc:  # a JWT route needs a JWT authorizer
        gw.create_route(ApiId=api_id, RouteKey="GET /a", AuthorizationType="JWT", AuthorizerId=request)
    assert aws_error(exc) == (
        "BadRequestException",
        "Invalid authorizer ID specified. Setting the authorization type to JWT requires a valid JWT authorizer.",
        400,
    )
    with pytest.raises(ClientError) as exc:  # scopes belong to JWT routes
        gw.create_route(ApiId=api_id, RouteKey="GET /b", AuthorizationType="NONE", AuthorizationScopes=["s"])
    assert aws_error(exc)[0::2] == ("BadRequestException", 400)
    route = gw.create_route(
        ApiId=api_id, RouteKey="GET /c", AuthorizationType="JWT",
        AuthorizerId=made["AuthorizerId"], AuthorizationScopes=["read"],
    )  # fmt: skip
    assert (route["AuthorizationType"], route["AuthorizationScopes"]) == ("JWT", ["read"])
    updated = gw.update_route(ApiId=api_id, RouteId=route["RouteId"], AuthorizationType="NONE")
    assert updated["AuthorizationType"] == "NONE" and "AuthorizationScopes" not in updated


def test_a_valid_token_reaches_the_function_with_its_claims(
    lbx: LocalLambdabox, fn: str, idp: Provider
) -> None:
    api_id = jwt_api(lbx, fn, idp.issuer)
    now = lbx.clock.now()
    token = idp.token(
        now, scope="read admin", groups=["a", "b"], email_verified=True, address={"c": "x"}, gone=None
    )
    status, _, body = send(lbx, f"/_apis/{api_id}/admin", bearer(token))
    assert status == 200, body
    granted = json.loads(body)["requestContext"]["authorizer"]["jwt"]
    assert granted["scopes"] == ["read", "admin"]  # the token's scopes
    claims = granted["claims"]
    assert claims["sub"] == "user-1" and claims["aud"] == AUDIENCE and claims["iss"] == idp.issuer
    assert claims["exp"] == str(int(now) + 3600) and claims["iat"] == str(int(now))  # values as strings
    assert claims["groups"] == "[a b]" and claims["email_verified"] == "true"
    assert claims["address"] == '{"c":"x"}' and "gone" not in claims
    # the token without `Bearer `, and a route without scopes: scopes null
    status, _, body = send(lbx, f"/_apis/{api_id}/open", {"Authorization": token})
    assert status == 200
    assert json.loads(body)["requestContext"]["authorizer"]["jwt"]["scopes"] is None
    # a Cognito-style access token: client_id instead of aud
    cognito = idp.token(now, aud=DROP, client_id=AUDIENCE, scope="root")
    assert send(lbx, f"/_apis/{api_id}/admin", bearer(cognito))[0] == 200


def test_payload_1_0_gets_the_claims_in_the_authorizer(lbx: LocalLambdabox, fn: str, idp: Provider) -> None:
    api_id = jwt_api(lbx, fn, idp.issuer, version="1.0")
    status, _, body = send(lbx, f"/_apis/{api_id}/open", bearer(idp.token(lbx.clock.now(), n=5)))
    assert status == 200
    authorizer = json.loads(body)["requestContext"]["authorizer"]
    assert authorizer["claims"]["n"] == "5" and authorizer["scopes"] is None


def hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """An HS256 token keyed with `secret` (PyJWT refuses to key HMAC with a public key: by hand)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def refused(status: int, headers: http.client.HTTPMessage, body: bytes, description: str) -> bool:
    assert (status, body) == (401, b'{"message":"Unauthorized"}'), (status, body)
    challenge = headers["www-authenticate"]
    assert challenge == f'Bearer scope="" error="invalid_token" error_description="{description}"', challenge
    return True


def test_tokens_api_gateway_refuses(lbx: LocalLambdabox, fn: str, idp: Provider) -> None:
    api_id = jwt_api(lbx, fn, idp.issuer)
    path = f"/_apis/{api_id}/open"
    now = lbx.clock.now()

    def get(token: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        return send(lbx, path, bearer(token))

    assert send(lbx, path)[0:3:2] == (401, b'{"message":"Unauthorized"}')  # no token at all
    assert refused(*get("not-a-jwt"), "the token is malformed")
    assert refused(*get(idp.token(now, key=idp.other_rsa)), "the token signature is invalid")
    assert refused(*get(idp.token(now, aud="someone-else")), "the token does not have a valid audience")
    assert refused(*get(idp.token(now, iss="http://evil.example")), "the token does not have a valid issuer")
    assert refused(*get(idp.token(now, nbf=int(now) + 60)), "the token is not valid yet")
    assert refused(*get(idp.token(now, exp=DROP)), "the token has no valid exp")
    # alg none, and HS256 keyed with the public key (the classic confusion): refused by algorithm
    unsigned = jwt.encode({"iss": idp.issuer, "aud": AUDIENCE, "exp": int(now) + 60}, None, algorithm="none",
                          headers={"kid": "rsa1"})  # fmt: skip
    assert refused(*get(unsigned), "signing method none is invalid")
    public_pem = idp.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs = hs256(
        {"alg": "HS256", "kid": "rsa1"},
        {"iss": idp.issuer, "aud": AUDIENCE, "exp": int(now) + 60},
        public_pem,
    )
    assert refused(*get(hs), "signing method HS256 is invalid")
    # API Gateway verifies RSA signatures only: an EC token is refused even with its key published
    assert refused(
        *get(idp.token(now, key=idp.ec, alg="ES256", kid="ec1")), "signing method ES256 is invalid"
    )
    # a token without a kid
    nokid = jwt.encode({"iss": idp.issuer, "aud": AUDIENCE, "exp": int(now) + 60}, idp.rsa, algorithm="RS256")
    assert refused(*get(nokid), "the token has no kid")
    # missing scope: 403
    status, headers, body = send(lbx, f"/_apis/{api_id}/admin", bearer(idp.token(now, scope="read")))
    assert (status, body) == (403, b'{"message":"Forbidden"}')
    assert 'error="insufficient_scope"' in headers["www-authenticate"]


def test_expiry_and_key_rotation_on_the_servers_clock(lbx: LocalLambdabox, fn: str, idp: Provider) -> None:
    api_id = jwt_api(lbx, fn, idp.issuer)
    path = f"/_apis/{api_id}/open"
    now = lbx.clock.now()
    token = idp.token(now, exp=int(now) + 120)
    assert send(lbx, path, bearer(token))[0] == 200
    lbx.advance(121)
    assert refused(*send(lbx, path, bearer(token)), "the token has expired")
    # a key the cache lacks: fetched again (at most every few seconds), then accepted
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rotated = idp.token(lbx.clock.now(), key=new_key, kid="rsa2")
    assert refused(*send(lbx, path, bearer(rotated)), "unable to find a signing key that matches 'rsa2'")
    idp.published.append({**json.loads(RSAAlgorithm.to_jwk(new_key.public_key())), "kid": "rsa2"})
    fetches = idp.jwks_fetches
    assert send(lbx, path, bearer(rotated))[0] == 401, "refetched at once (every unknown kid would fetch)"
    assert idp.jwks_fetches == fetches
    lbx.advance(11)
    assert send(lbx, path, bearer(idp.token(lbx.clock.now(), key=new_key, kid="rsa2")))[0] == 200
    assert idp.jwks_fetches == fetches + 1
    # known keys are served from the cache
    assert send(lbx, path, bearer(idp.token(lbx.clock.now())))[0] == 200
    assert idp.jwks_fetches == fetches + 1


def test_an_apis_jwt_configuration_is_its_own(lbx: LocalLambdabox, fn: str, idp: Provider) -> None:
    """Another API (another issuer, or none) is not opened by this provider's tokens."""
    other = Provider()
    try:
        mine = jwt_api(lbx, fn, idp.issuer)
        theirs = jwt_api(lbx, fn, other.issuer)
        token = idp.token(lbx.clock.now())
        assert send(lbx, f"/_apis/{mine}/open", bearer(token))[0] == 200
        assert send(lbx, f"/_apis/{theirs}/open", bearer(token))[0] == 401
        assert send(lbx, f"/_apis/{theirs}/open", bearer(other.token(lbx.clock.now())))[0] == 200
        # an API of another account with the same issuer knows nothing of this one's routes
        gw = lbx.client("apigatewayv2", key="other", secret="other")
        with pytest.raises(ClientError) as exc:
            gw.get_authorizers(ApiId=mine)
        assert aws_error(exc)[0::2] == ("NotFoundException", 404)
    finally:
        other.close()
