"""A local stand-in for Open Collective's GraphQL API v2, for Fund Circle's tests and demo (a development tool).

`oc_sandbox.sandbox` is the stand-in itself (it needs graphql-core); `oc_sandbox.cli` is its `flask oc-sandbox`
command, which Flask finds through this distribution's `flask.commands` entry point. This module stays light: the
command line reads it without loading graphql-core.
"""

from __future__ import annotations

#: The expense types a sandbox collective accepts unless it is told otherwise.
DEFAULT_EXPENSE_TYPES = ("INVOICE", "RECEIPT", "GRANT")
