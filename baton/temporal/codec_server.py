"""The codec server: the Temporal Web UI and CLI decrypt payloads here, and only for
operators who present a token.

Protocol (Temporal's remote codec): ``POST /decode`` and ``POST /encode`` with the JSON
form of ``temporal.api.common.v1.Payloads`` (``{"payloads": [{"metadata": {...},
"data": "<base64>"}]}``), answered in the same form. Every request needs
``Authorization: Bearer <token>`` with a token from ``BATON_CODEC_TOKENS``; browsers
from the origins in ``BATON_CODEC_CORS_ORIGINS`` (default: the embedded Web UI) may call
it. Point the UI at it with ``BATON_CODEC_ENDPOINT`` (the embedded server passes it as
``--ui-codec-endpoint``) or the temporal CLI with ``--codec-endpoint URL
--codec-auth "Bearer TOKEN"``.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from baton.temporal.codec import EncryptionCodec, EncryptionKeyError

ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def codec_app(
    codec: EncryptionCodec, tokens: Iterable[str], origins: Iterable[str]
) -> web.Application:
    """The aiohttp application; refuses to exist without a token to check against."""
    allowed_tokens = [t for t in tokens if t]
    if not allowed_tokens:
        raise ValueError("the codec server needs at least one token (BATON_CODEC_TOKENS)")
    allowed_origins = {o.rstrip("/") for o in origins if o}

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS":  # preflight: no token is sent with it
            response: web.StreamResponse = web.Response(status=204)
        else:
            try:
                response = await handler(request)
            except web.HTTPException as err:  # answered with CORS headers, so browsers see it
                response = web.Response(status=err.status, text=err.text, headers=err.headers)
        origin = request.headers.get("Origin", "").rstrip("/")
        if origin in allowed_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Vary"] = "Origin"
        return response

    def authorize(request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        ok = scheme.lower() == "bearer" and any(
            hmac.compare_digest(token.encode(), t.encode()) for t in allowed_tokens
        )
        if not ok:
            raise web.HTTPUnauthorized(
                text="a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )

    def endpoint(decode: bool) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            authorize(request)
            try:
                payloads = json_format.Parse(await request.text(), Payloads())
            except json_format.ParseError as err:
                raise web.HTTPBadRequest(text=f"not a Payloads JSON object: {err}") from None
            try:
                done = await (codec.decode if decode else codec.encode)(payloads.payloads)
            except EncryptionKeyError as err:
                raise web.HTTPBadRequest(text=str(err)) from None
            body = json_format.MessageToJson(Payloads(payloads=done))
            return web.Response(text=body, content_type="application/json")

        return handle

    app = web.Application(middlewares=[cors])
    app.router.add_post("/decode", endpoint(decode=True))
    app.router.add_post("/encode", endpoint(decode=False))
    app.router.add_route("OPTIONS", "/{tail:.*}", _preflight)
    return app


async def _preflight(_: web.Request) -> web.Response:
    return web.Response(status=204)  # answered (with CORS headers) by the middleware
