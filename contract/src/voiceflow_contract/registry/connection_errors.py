"""Whether an exception means "the storage server could not be reached", whatever backend raised it.

Every backend fails differently when the server is down (botocore ``EndpointConnectionError``, aiohttp
``ClientConnectorError``, azure ``ServiceRequestError``...); :class:`~voiceflow_contract.registry.storage.Storage`
turns all of them into RegistryUnavailableError with this test.
"""

from __future__ import annotations

import socket

# Exception class names (anywhere in the cause chain) that mean "the server could not be reached".
_CONNECTION_ERROR_NAMES = frozenset(
    {
        "ConnectionError",
        "ConnectionRefusedError",
        "ConnectionResetError",
        "ConnectionAbortedError",
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ClientConnectorError",
        "ClientConnectionError",
        "ServerDisconnectedError",
        "ClientOSError",
        "ServiceRequestError",
        "ServiceResponseError",
        "TimeoutError",
        "gaierror",
    }
)


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` (or anything in its cause/context chain) says the storage server could not be reached."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError | TimeoutError | socket.gaierror):
            return True
        if any(cls.__name__ in _CONNECTION_ERROR_NAMES for cls in type(current).__mro__):
            return True
        current = current.__cause__ or current.__context__
    return False


__all__ = ["is_connection_error"]
