"""The HTTP API and the TAXII 2.1 server: a third transport (DESIGN §6) over the same use cases
as the CLI and gRPC.

Starlette handlers served by uvicorn. A handler validates the request, authorises it from the
account its bearer token or session cookie verified as (node.http.guard), calls a use case the
app layer handed in, and converts the answer to the CLI's ``--json`` shapes. Errors map to
RFC 9457 problem details in one table.
"""
