"""The envelope every non-informational Beacon response shares: meta with the request as the
node received it, and the error body. Kept apart so that every endpoint answers alike."""
from __future__ import annotations

from typing import Any

from beacon.info import API_VERSION


def request_summary(granularity: str = "boolean", *, skip: int = 0, limit: int = 10,
                    schemas: list[dict[str, str]] | None = None,
                    parameters: dict[str, Any] | None = None,
                    api_version: str | None = None) -> dict[str, Any]:
    """`meta.receivedRequestSummary`: what the request asked (the spec: "the request
    received as it has been interpreted"), its `apiVersion` and `schemas` as its meta gave
    them (beacon/request.py requested_meta); a request stating no API version is read as
    this node's."""
    summary: dict[str, Any] = {"apiVersion": api_version or API_VERSION,
                               "requestedSchemas": schemas or [],
                               "pagination": {"skip": skip, "limit": limit},
                               "requestedGranularity": granularity}
    if parameters:
        summary["requestParameters"] = parameters
    return summary


def response_meta(beacon_id: str, granularity: str, summary: dict[str, Any],
                  schemas: list[dict[str, str]] | None = None, *,
                  test_mode: bool = False) -> dict[str, Any]:
    """A response's meta; `testMode` (the spec's beaconResponseMeta) says the answer is a
    test-mode one, given only then."""
    meta = {"beaconId": beacon_id, "apiVersion": API_VERSION, "returnedSchemas": schemas or [],
            "returnedGranularity": granularity, "receivedRequestSummary": summary}
    if test_mode:
        meta["testMode"] = True
    return meta


def error_body(beacon_id: str, code: int, message: str) -> dict[str, Any]:
    """`{meta, error}` as beaconErrorResponse requires (key `error`, singular)."""
    return {"meta": response_meta(beacon_id, "boolean", request_summary()),
            "error": {"errorCode": code, "errorMessage": message}}
