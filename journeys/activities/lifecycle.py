"""The start of a customer run: the lifecycle rules a worker serves (read once at worker start
so a bad file fails early) and the number of the customer's life."""

from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from temporalio import activity

from journeys.config.settings import ConfigError
from journeys.store.customers import customer_epoch
from journeys.store.db import session_scope
from journeys.vocabulary.activity_refs import BEGIN_CUSTOMER_RUN
from journeys.vocabulary.customer_types import CustomerRunInput, CustomerRunSetup, LifecycleConfig
from journeys.vocabulary.journey_types import JourneyCatalog
from journeys.vocabulary.lifecycle import DEFAULT_RULES


def read_lifecycle_config(path: Path | None, inactivity_days: float) -> LifecycleConfig:
    """The default rules, or those of a YAML file (a list under `rules:`)."""
    if path is None:
        return LifecycleConfig(rules=DEFAULT_RULES, inactivity_days=inactivity_days)
    where = f"JOURNEYS_LIFECYCLE_RULES_FILE={path}"
    try:
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping with `rules:`")
        data.setdefault("inactivity_days", inactivity_days)
        return LifecycleConfig.model_validate(data)
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{where}: {err}") from err
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"{where}: {problems}") from err


class LifecycleActivities:
    def __init__(
        self,
        config: LifecycleConfig,
        database_url: str,
        local_activities: bool = False,
        catalog: Callable[[], JourneyCatalog] | None = None,
    ) -> None:
        self.config, self.database_url = config, database_url
        self.local_activities = local_activities
        self.catalog = catalog  # the journey catalog's reader (JourneyActivities.catalog)

    @activity.defn(name=BEGIN_CUSTOMER_RUN.name)
    def begin_customer_run(self, input: CustomerRunInput) -> CustomerRunSetup:
        """Called at the start of each customer run, so new rules reach running customers at
        their next continue-as-new and replay keeps the rules each run was given; a new life
        is numbered here (store/customers.py, `customer_epoch`)."""
        epoch = input.epoch
        for attempt in range(3):
            if epoch:
                break
            try:
                with session_scope(self.database_url) as session:
                    epoch = customer_epoch(
                        session, customer_id=input.customer_id, lineage=input.lineage
                    )
            except IntegrityError:  # another life numbered at the same moment: count again
                if attempt == 2:
                    raise
        catalog = None
        if input.catalog_version is not None and self.catalog is not None:
            newest = self.catalog()
            if newest.version > input.catalog_version:
                catalog = newest  # a new customer: one activity fewer before its first drain
        return CustomerRunSetup(
            config=self.config, epoch=epoch, local_activities=self.local_activities,
            catalog=catalog,
        )  # fmt: skip
