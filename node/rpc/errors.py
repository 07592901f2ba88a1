"""The one table from error type to gRPC status (STYLE: translate at exactly one place)."""

from __future__ import annotations

import grpc

from node import errors

_STATUS: tuple[tuple[type[errors.AccordError], grpc.StatusCode], ...] = (
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.TooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.Rejected, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.PeerError, grpc.StatusCode.UNAVAILABLE),
    (errors.ConfigError, grpc.StatusCode.FAILED_PRECONDITION),
)


def status_for(error: errors.AccordError) -> grpc.StatusCode:
    """The status code a handler answers ``error`` with (most specific class first)."""
    for kind, code in _STATUS:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.FAILED_PRECONDITION


def abort_with(context: grpc.ServicerContext, error: errors.AccordError) -> None:
    """End the call with the mapped status and the error's explanation (no hash values in it)."""
    context.abort(status_for(error), str(error))
