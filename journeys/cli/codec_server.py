"""`journeys codec-server [--port 8081]`: the codec endpoint on the operator's own machine
(127.0.0.1, no key, CORS for the Temporal UI), decrypting with JOURNEYS_PAYLOAD_KEY from the
operator's environment. In the UI: settings → Codec Server → http://127.0.0.1:8081/codec."""

import argparse
from typing import TYPE_CHECKING

from journeys.config.settings import ConfigError, Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

COMMAND = "codec-server"


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    server = sub.add_parser(COMMAND, help="serve the payload codec to the Temporal UI, locally")
    server.add_argument("--port", type=int, default=8081)
    server.set_defaults(action="serve")


def app(settings: Settings) -> "FastAPI":
    """The codec app; FastAPI is imported here, not at every `journeys` command's start."""
    from fastapi import FastAPI

    from journeys.api.codec import codec_router
    from journeys.api.errors import ApiError, api_error_response

    if not settings.payload_key:
        raise ConfigError("JOURNEYS_PAYLOAD_KEY is not set: there is nothing to decode")
    codec = FastAPI(title="journeys codec")
    codec.exception_handler(ApiError)(api_error_response)
    codec.include_router(codec_router(settings, cors=True, dependencies=[]))
    return codec


def run(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    uvicorn.run(app(settings), host="127.0.0.1", port=args.port, log_level="warning")
    return 0
