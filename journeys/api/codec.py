"""The codec endpoint (Temporal's codec-server protocol): `POST {base}/decode` and `/encode`
with `{"payloads": [...]}` as protobuf JSON, so an operator who holds the payload key reads
encrypted workflow data in the Temporal UI or CLI.

Two ways to reach it: inside the API at `/codec`, behind the admin key (for the CLI:
`temporal workflow show -w ID --codec-endpoint http://api:8000/codec --codec-auth "Bearer KEY"`),
and as `journeys codec-server`, bound to 127.0.0.1 on the operator's machine, without a key but
with CORS for the Temporal UI's origins (the UI's "Codec Server" setting points at it)."""

from typing import Any

from fastapi import APIRouter, Request, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from journeys.api.errors import ApiError
from journeys.config.codec import EncryptionCodec, parse_keys
from journeys.config.settings import Settings


def codec_router(settings: Settings, *, cors: bool, dependencies: list[Any]) -> APIRouter:
    router = APIRouter(prefix="/codec", dependencies=dependencies, tags=["codec"])
    codec = EncryptionCodec(parse_keys(settings.payload_key)) if settings.payload_key else None

    def allow(request: Request, response: Response) -> None:
        origin = request.headers.get("origin")
        if cors and origin in settings.codec_cors_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Headers"] = "Content-Type, X-Namespace"
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Vary"] = "Origin"

    async def convert(request: Request, response: Response, decode: bool) -> dict[str, Any]:
        allow(request, response)
        if codec is None:
            raise ApiError(404, "payload encryption is off (JOURNEYS_PAYLOAD_KEY is not set)")
        try:
            payloads = json_format.Parse(await request.body(), Payloads())
        except json_format.ParseError as err:
            reason = [{"field": "payloads", "reason": str(err)}]
            raise ApiError(400, "invalid payloads", reason) from err
        try:
            done = await (codec.decode if decode else codec.encode)(payloads.payloads)
        except ValueError as err:  # another key, or tampered
            reason = [{"field": "payloads", "reason": str(err)}]
            raise ApiError(400, "cannot decode", reason) from err
        return json_format.MessageToDict(Payloads(payloads=done))

    @router.post("/decode", summary="decrypt payloads for a reader who holds the key")
    async def decode(request: Request, response: Response) -> dict[str, Any]:
        return await convert(request, response, decode=True)

    @router.post("/encode", summary="encrypt payloads (the CLI's input to workflows)")
    async def encode(request: Request, response: Response) -> dict[str, Any]:
        return await convert(request, response, decode=False)

    if cors:

        @router.options("/{action}", include_in_schema=False)
        async def preflight(action: str, request: Request) -> Response:
            response = Response(status_code=204)
            allow(request, response)
            return response

    return router
