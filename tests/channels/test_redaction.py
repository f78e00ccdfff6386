"""No personal data in logs: a customer's email, phone and name go through the API, the
customer's workflow, a journey and a real email delivery at DEBUG, and no log line (stdlib or
structlog, workflow or activity loggers, rendered as JSON as in production) contains them."""

import io
import logging
import uuid

import httpx
import structlog
from temporalio.testing import WorkflowEnvironment

from journeys.api.app import create_app
from journeys.config.logging import configure_logging
from journeys.config.settings import Settings
from journeys.vocabulary.ids import journey_workflow_id
from journeys.worker.main import build_worker
from tests.helpers.events import event
from tests.helpers.journeys import finished, send
from tests.helpers.smtp import Inbox

EMAIL, PHONE, NAME = "ann.secret@example.test", "+15550199", "Annabelle"


async def test_logs_carry_the_customer_id_but_no_personal_data(
    skipping_env: WorkflowEnvironment, inbox: tuple[Inbox, int], settings: Settings, catalog: int
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("DEBUG", "json")
    captured = io.StringIO()
    root.handlers[0].stream = captured  # type: ignore[attr-defined]
    settings = settings.model_copy(update={"write_keys": ["w"]})
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    try:
        app = create_app(settings, client=client)
        async with (
            build_worker(client, settings),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://api"
            ) as http,
        ):
            traits = {"email": EMAIL, "phone": PHONE, "first_name": NAME}
            r = await http.post(
                "/v1/identify", auth=("w", ""), json={"userId": cid, "traits": traits}
            )
            assert r.status_code == 200, r.text
            await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
            await finished(skipping_env, journey_workflow_id("cart_recovery", cid, 1))
    finally:  # leave logging as the other tests found it
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, level
    assert [m["To"] for m in inbox[0].messages] == [EMAIL]  # the data did flow
    # aiosmtpd's own logger ("mail.log") is the test's mail server, not the product
    logs = "\n".join(line for line in captured.getvalue().splitlines()
                     if '"logger": "mail.log"' not in line)  # fmt: skip
    assert cid in logs  # the customer id is what operators search by
    for secret in (EMAIL, PHONE, NAME):
        assert secret not in logs, [line for line in logs.splitlines() if secret in line][:3]
