from tests.test_catalogue_service import *  # noqa
from tests.test_catalogue_service import _record, _snapshot, _registration

async def test_withdrawn_search(catalogue):
    fdp = "http://fi.example/fdp"
    path = f"/api/nodes/{NODE}"
    await catalogue.put(path, _registration(fdp), TOKENS[NODE])
    await catalogue.put(path + "/datasets", _snapshot(_record("GDI-FI-SYN-001", fdp), _record("GDI-FI-SYN-002", fdp)), TOKENS[NODE])
    await catalogue.put(path + "/datasets", _snapshot(_record("GDI-FI-SYN-002", fdp)), TOKENS[NODE])
    for params in ({"q": "GDI-FI-SYN-001", "status": "withdrawn"}, {"q": "gdi-fi-syn-001", "status": "any"}, {"q": "GDI FI SYN", "status": "any"},
                   {"q": "GDI-FI-SYN-00", "status": "any"}, {"q": "GDI-FI-SYM-001", "status": "any"}, {"q": "Dataset", "status": "any", "sort": "title"},
                   {"status": "any", "sort": "modified"}, {"q": "syn", "status": "withdrawn", "sort": "modified"}):
        status, body = await catalogue.get("/api/datasets", **params)
        print(params, status, str(body)[:400])
