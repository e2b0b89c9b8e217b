"""The network aggregator: a node asking its peers the same Beacon question at once
(network.py), and one Beacon answer merged from theirs (merge.py); who the peers are is
peers.py. Its HTTP handlers are node/http/network_api.py."""
