"""THE agreement test: for generated customers, the batch SQL and the per-customer Python
evaluation find the same members for every segment (these and the shipped ones), on SQLite and
on PostgreSQL."""

import pytest
import yaml

from journeys.cli.segments import SHIPPED, load_definition_files
from journeys.segments.definition import FIELDS, OPERATORS, SegmentDefinition, parse_definition
from journeys.segments.evaluate import facts_since, is_member
from journeys.store.db import session_scope
from journeys.store.segments import (
    batch_members,
    compute_rfm_thresholds,
    customer_facts,
    save_rfm_thresholds,
)
from tests.helpers.segment_data import AS_OF, generate

SEGMENTS = yaml.safe_load("""
- name: adults
  condition:
    all:
      - {field: traits.age, gte: 30}
      - {field: traits.age, lt: 50}
      - {field: traits.age, ne: 42}
- name: women_or_unknown_gender
  condition:
    any:
      - {field: traits.gender, eq: f}
      - {field: traits.gender, exists: false}
      - {field: traits.gender, not_in: [f, m]}
- name: income_bands
  condition:
    any:
      - {field: traits.income, gt: 100000}
      - {field: traits.income, lte: 20000}
      - {field: traits.income, eq: 35000.5}
      - {field: traits.age, in: [25, 26, 27]}
      - {field: traits.age, not_in: [16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
                                     31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45,
                                     46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60,
                                     61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75]}
- name: graduates
  condition:
    all:
      - {field: traits.education, in: [master, phd]}
      - {field: traits.income, exists: true}
- name: uk_london
  condition:
    all:
      - {field: traits.country, eq: GB}
      - {field: traits.region, ne: west}
      - any:
          - {field: traits.city, in: [London, Leeds]}
          - {field: traits.postal_code, eq: "01060"}
- name: outdoor_runners
  condition:
    any:
      - {field: traits.interests, contains: running}
      - all:
          - {field: traits.lifestyle, contains: outdoor}
          - not: {field: traits.values, exists: true}
- name: owners
  condition:
    any:
      - {field: stage, in: [loyalty, advocacy]}
      - all:
          - {field: stage, ne: awareness}
          - {field: stage, not_in: [consideration, decision, onboarding]}
      - not: {field: stage, exists: true}
      - {field: stage, eq: onboarding}
- name: browsers
  condition:
    all:
      - {field: events.count, event: Product Viewed, within: 30d, gte: 2}
      - {field: events.count, type: page, within: 7d, lte: 5}
- name: busy_or_silent
  condition:
    any:
      - {field: events.count, gt: 20}
      - {field: events.count, within: 90d, eq: 0}
      - {field: events.count, event: Checkout Started, ne: 0}
      - {field: events.count, type: screen, within: 30d, in: [1, 2]}
      - {field: events.count, type: identify, lt: 1, within: 365d}
- name: buyers
  condition:
    any:
      - {field: orders.count, within: 90d, gte: 2}
      - {field: orders.total, within: 365d, gt: 400}
      - all:
          - {field: orders.count, eq: 0}
          - {field: orders.total, lte: 0}
- name: rfm_champions
  condition:
    all:
      - {field: rfm.recency, gte: 4}
      - {field: rfm.frequency, gt: 2}
      - {field: rfm.monetary, not_in: [1]}
- name: rfm_others
  condition:
    any:
      - {field: rfm.recency, lt: 2}
      - {field: rfm.frequency, eq: 1}
      - {field: rfm.monetary, in: [4, 5]}
      - {field: rfm.recency, lte: 3, }
      - {field: rfm.monetary, ne: 3}
- name: engaged
  condition:
    any:
      - {field: engagement, in: [medium, high]}
      - {field: engagement, eq: none}
- name: engagement_low
  condition:
    all:
      - {field: engagement, ne: none}
      - {field: engagement, not_in: [medium, high]}
- name: predicted_churn
  condition:
    all:
      - {field: traits.p_alive, lt: 0.3}
      - {field: orders.count, gte: 2}
- name: predicted_value
  condition:
    any:
      - {field: traits.predicted_clv, gte: 100}
      - {field: traits.expected_purchases, gt: 1.5}
      - {field: traits.churn_risk, in: [0.5, 0.25]}
      - all:
          - {field: traits.historic_clv, exists: true}
          - {field: traits.p_alive, gte: 0.75}
          - {field: traits.historic_clv, ne: 0}
- name: mixed
  condition:
    not:
      any:
        - {field: traits.country, in: [FR, DE]}
        - all:
            - {field: rfm.recency, gte: 3}
            - {field: engagement, eq: high}
            - not: {field: traits.interests, contains: travel}
""")


def test_every_field_and_operator_is_covered() -> None:
    definitions = [parse_definition(raw) for raw in SEGMENTS]
    rules = [rule for d in definitions for rule in d.rules()]
    assert {rule.field for rule in rules} == set(FIELDS)
    assert {rule.operator for rule in rules} == set(OPERATORS)
    assert len(definitions) >= 12


def _python_members(
    database_url: str, definition: SegmentDefinition, ids: list[str], thresholds: object
) -> set[str]:
    found = set()
    since = facts_since([definition], AS_OF)
    with session_scope(database_url) as session:
        for customer_id in ids:
            facts = customer_facts(
                session, customer_id=customer_id, events_since=since, as_of=AS_OF
            )
            if facts and is_member(definition, facts, as_of=AS_OF, thresholds=thresholds):  # type: ignore[arg-type]
                found.add(customer_id)
    return found


@pytest.mark.slow
def test_batch_sql_and_python_agree(database_url: str) -> None:
    with session_scope(database_url) as session:
        ids = generate(session, customers=400)
        thresholds = compute_rfm_thresholds(session, as_of=AS_OF)
        save_rfm_thresholds(session, thresholds=thresholds)
    assert thresholds.customers > 100
    disagreements = {}
    sizes = {}
    shipped, errors = load_definition_files([SHIPPED])
    assert not errors
    for definition in [*map(parse_definition, SEGMENTS), *shipped]:
        with session_scope(database_url) as session:
            batch = batch_members(
                session, definition=definition, as_of=AS_OF, thresholds=thresholds
            )
        python = _python_members(database_url, definition, ids, thresholds)
        sizes[definition.name] = len(batch)
        if batch != python:
            disagreements[definition.name] = {
                "only_sql": sorted(batch - python)[:10],
                "only_python": sorted(python - batch)[:10],
            }
    assert not disagreements, disagreements
    # every segment has some members and leaves some customers out: the test has teeth
    trivial = {name: size for name, size in sizes.items() if size in (0, len(ids))}
    assert not trivial, sizes
