"""The ground floor: the types and pure rules every layer shares (events, payloads, journey
specs, the tracking plan, expressions, ids, search attributes, lifecycle rules).

Pydantic and the standard library only: the workflow sandbox loads these cheaply, and nothing
here does I/O."""
