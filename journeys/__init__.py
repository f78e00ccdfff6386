"""Durable customer journey orchestration on Temporal.

The subpackages are layers, each importing only those below it (docs/architecture.md):
vocabulary → channels, segments, kpis, recommendations → config, store → activities →
workflows → client → api, worker, cli (with devserver). Shipped journeys, templates and
segments are package data in `journeys.data`.
"""
