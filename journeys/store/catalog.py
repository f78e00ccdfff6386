"""The catalog version: one counter that tells customers to reload what they route by (journeys'
triggers, whether any segment is active). Journeys and segments both move it."""

from sqlmodel import Session

from journeys.store.models import Catalog


def catalog_version(session: Session) -> int:
    """Goes up by one on every new version and every status change; 0 for an empty catalog."""
    catalog = session.get(Catalog, 1)
    return catalog.version if catalog is not None else 0


def bump_catalog(session: Session) -> None:
    """Every change of a journey or a segment calls this."""
    catalog = session.get(Catalog, 1, with_for_update=True) or Catalog(id=1, version=0)
    catalog.version += 1
    session.add(catalog)
