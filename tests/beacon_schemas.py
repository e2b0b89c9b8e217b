"""Where the Beacon v2 schemas that responses are validated against lie in the shared folder
(paths relative to it, for the `beacon_schema` fixture in conftest.py)."""

_RESPONSES = "framework/json/responses"
RESPONSE_SCHEMAS = {"boolean": f"{_RESPONSES}/beaconBooleanResponse.json",
                    "count": f"{_RESPONSES}/beaconCountResponse.json",
                    "record": f"{_RESPONSES}/beaconResultsetsResponse.json"}
COLLECTIONS_SCHEMA = f"{_RESPONSES}/beaconCollectionsResponse.json"
ERROR_SCHEMA = f"{_RESPONSES}/beaconErrorResponse.json"
INFO_SCHEMA = f"{_RESPONSES}/beaconInfoResponse.json"
MAP_SCHEMA = f"{_RESPONSES}/beaconMapResponse.json"
ENTRY_TYPES_SCHEMA = f"{_RESPONSES}/beaconEntryTypesResponse.json"
RECORD_SCHEMA = "bin/deref_schemas/genomicVariations/defaultSchema.json"
