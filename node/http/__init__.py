"""Every HTTP handler of the servers the program runs, grouped by surface: the node's Beacon
API (beacon_api.py), the bearer token, the 401 and the audit line (caller.py), the FAIR Data
Point (fdp.py), the network (network_api.py), health and metrics, the catalogue service's API
(catalogue_api.py) and the development AAI's (aai_api.py); the one middleware of the node
(middleware.py), the one reader of request bodies they all share (body.py), the app keys
and the one way to serve an app (server.py). Handlers translate HTTP to calls on the cores
and back; no domain logic lives here."""
