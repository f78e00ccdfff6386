"""Segments: definitions (YAML, pydantic), their compilation to one SQL query (the batch path)
and their evaluation in Python for one customer (the incremental path), with one meaning.

Pure: nothing here reads or writes the store; `store/segments.py` runs what is built here.
"""
