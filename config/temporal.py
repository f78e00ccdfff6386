"""How every process reaches Temporal: one data converter (pydantic) everywhere."""

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from config.settings import Settings

DATA_CONVERTER = pydantic_data_converter


async def connect(settings: Settings, address: str | None = None, lazy: bool = False) -> Client:
    """`lazy` connects on first use, so the API starts (and answers 503) while Temporal is down."""
    return await Client.connect(
        address or settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        lazy=lazy,
    )
