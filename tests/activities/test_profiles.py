"""Profile updates from identify calls and update_profile steps."""

from datetime import UTC, datetime

from temporalio.testing import ActivityEnvironment

from journeys.activities.profiles import ProfileActivities
from journeys.store.clv import write_traits
from journeys.store.customers import customer_traits
from journeys.store.db import session_scope
from journeys.vocabulary.customer_types import ProfileUpdateInput

AT = datetime(2026, 11, 1, tzinfo=UTC)


def test_an_identify_cannot_overwrite_the_traits_the_clv_fit_computed(sqlite_url: str) -> None:
    with session_scope(sqlite_url) as session:
        write_traits(session, values={"c1": {"p_alive": 0.2, "predicted_clv": 80.0}}, at=AT)
    sent = {"plan": "pro", "p_alive": 1.0, "predicted_clv": 1e6}
    update = ProfileUpdateInput(customer_id="c1", message_id="m1", at=AT, traits=sent)
    ActivityEnvironment().run(ProfileActivities(sqlite_url).update_profile, update)
    with session_scope(sqlite_url) as session:
        traits = customer_traits(session, customer_id="c1")
    assert traits == {"p_alive": 0.2, "predicted_clv": 80.0, "plan": "pro"}
