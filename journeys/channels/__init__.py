"""Channels: message templates and (next) the providers that deliver them. No workflow code."""
