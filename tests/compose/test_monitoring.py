"""The optional monitoring profile (issue 18, item 8): Prometheus scraping every role that
serves /metrics, and the Grafana dashboard in monitoring/grafana/dashboards.

Without an engine: the dashboard asks only for metrics the code exports, is provisioned
against the stack's Prometheus, and the profile's services are optional, pinned and
port-checked. With one (`-m compose`; GDI_REQUIRE_COMPOSE=1 under .ci/run): the stack runs
with `--profile monitoring`, takes a few queries (some refused by a budget), and every
dashboard query returns data from Prometheus's HTTP API. Grafana itself is checked where its
image is present (CI reaches no registry and has no stand-in for it). Images:
PROMETHEUS_IMAGE and GRAFANA_IMAGE as in docker-compose.yml.
"""
from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from node.http.metrics import Metrics
from tests.compose.test_stack import (
    PORT_VARIABLES,
    _require_engine,
    _wait_until,
    get_json,
)
from tests.conftest import ROOT, published_ports

MONITORING = ROOT / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "gdi-federation.json"
PROMETHEUS_CONFIG = MONITORING / "prometheus" / "prometheus.yml"
DATASOURCES = MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = MONITORING / "grafana" / "provisioning" / "dashboards" / "gdi.yml"
MONITORING_PORTS = ("GDI_PROMETHEUS_PORT", "GDI_GRAFANA_PORT")
MONITORING_SERVICES = ("port-check-monitoring", "prometheus", "grafana")
SCRAPED = {"node-fi:5050", "node-se:5050", "node-es:5050", "network:5050"}
# What Grafana puts in for its variables: every instance; rate windows of a minute.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "5m", "$instance": ".*"}
BUDGET = 3        # anonymous query units per window on node-fi in the test stack
COUNT_QUERY = "referenceName=1&start=0&end=1000000&requestedGranularity=count"


def _yaml(path: Path) -> Any:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _compose() -> dict[str, Any]:
    return _yaml(ROOT / "docker-compose.yml")


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))     # inside (collapsed) rows


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(panel title, refId, PromQL) for every query of every panel."""
    return [(panel["title"], target["refId"], target["expr"])
            for panel in _panels(dashboard()["panels"]) for target in panel.get("targets", [])]


def promql(expr: str) -> str:
    """A panel's query as Grafana sends it, its variables replaced."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def _image_default(variable: str) -> str:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    match = re.search(r"\$\{" + variable + r":-([^}]+)\}", text)
    assert match, f"docker-compose.yml names no default for {variable}"
    return match[1]


# --- without an engine ----------------------------------------------------------------------

def _exported_names() -> set[str]:
    """The sample names node/http/metrics.py exposes once something was counted."""
    metrics = Metrics()
    metrics.record("GET", "/api/g_variants", 200, 0.01)
    metrics.count_round_trip(2)
    metrics.peers_answered([("org.example.gdi.fi", "ok")])
    from prometheus_client import generate_latest
    text = generate_latest(metrics.registry).decode()
    return {sample.name for family in text_string_to_metric_families(text)
            for sample in family.samples}


def test_the_dashboard_asks_only_for_metrics_the_code_exports():
    exported = _exported_names() | {"up"}         # `up`: Prometheus's own, per target
    queries = dashboard_queries()
    assert len(queries) >= 10
    for title, _, expr in queries:
        names = set(re.findall(r"\b(gdi_[a-z_]+|up)\b(?=\s*[{\[(]|\s*$)", expr))
        assert names, (title, expr)
        assert names <= exported, f"{title}: {sorted(names - exported)} not exported"
    # Each signal the issue lists has its panel, or is named as not measured yet.
    titles = " | ".join(title for title, _, _ in queries).lower()
    for signal in ("requests", "latency", "count", "budget", "up"):
        assert signal in titles, signal
    text = next(p for p in _panels(dashboard()["panels"]) if p["type"] == "text")
    for unmeasured in ("Database pool", "Ingest runs", "catalogue", "peer"):
        assert unmeasured in text["options"]["content"], unmeasured


def test_the_dashboard_is_provisioned_against_the_stacks_prometheus():
    source = _yaml(DATASOURCES)["datasources"][0]
    assert (source["type"], source["url"]) == ("prometheus", "http://prometheus:9090")
    board = dashboard()
    assert board["uid"] == "gdi-federation" and board["editable"] is False
    for panel in _panels(board["panels"]):
        for target in [panel, *panel.get("targets", [])]:
            if "datasource" in target:
                assert target["datasource"] == {"type": "prometheus", "uid": source["uid"]}
    for variable in board["templating"]["list"]:
        assert variable["datasource"]["uid"] == source["uid"]
    grafana = _compose()["services"]["grafana"]
    mounts = dict(v.removesuffix(":ro").split(":", 1)[::-1] for v in grafana["volumes"]
                  if v.startswith("./"))
    provider = _yaml(PROVIDERS)["providers"][0]
    assert mounts[provider["options"]["path"]] == "./monitoring/grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./monitoring/grafana/provisioning"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(home).parent.as_posix() == provider["options"]["path"]
    assert (ROOT / mounts[str(Path(home).parent)] / Path(home).name).is_file()


def test_prometheus_scrapes_every_role_that_serves_metrics():
    config = _yaml(PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: {t for group in job["static_configs"] for t in group["targets"]}
            for job in config["scrape_configs"]}
    assert set().union(*jobs.values()) == SCRAPED
    services = _compose()["services"]
    for target in SCRAPED:
        name, port = target.split(":")
        command = services[name]["command"]
        assert command[0] == "serve" and port == "5050", target       # gdi-node serve: /metrics
    # The catalogue and the AAI serve no /metrics (node/catalogue_app.py, aai): not scraped.
    assert not any(t.startswith(("catalogue", "aai")) for t in SCRAPED)
    for _, _, expr in dashboard_queries():
        for job in re.findall(r'job=~?"([^"]+)"', expr):
            assert re.fullmatch(job, "node") or re.fullmatch(job, "network"), expr


def test_prometheus_config_passes_promtool():
    if shutil.which("promtool") is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus)")
    result = subprocess.run(["promtool", "check", "config", str(PROMETHEUS_CONFIG)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_profile_is_optional_pinned_and_port_checked():
    compose = _compose()
    services = compose["services"]
    for name in MONITORING_SERVICES:
        assert services[name]["profiles"] == ["monitoring"], name
    assert not any("profiles" in s for n, s in services.items() if n not in MONITORING_SERVICES)
    for variable, official in (("PROMETHEUS_IMAGE", "prom/prometheus:v"),
                               ("GRAFANA_IMAGE", "grafana/grafana:")):
        image = _image_default(variable)
        assert image.startswith(official) and re.search(r":v?\d+\.\d+\.\d+$", image), image
    # Every published port is in .env and checked by a port check: the stack's own by
    # port-check, the monitoring ones by port-check-monitoring (so that adding the profile
    # to a running stack does not find the stack's own ports taken).
    env = dict(line.split("=", 1) for line in (ROOT / ".env").read_text().splitlines()
               if line and not line.startswith("#"))
    checked = {name: set(services[name]["environment"])
               for name in ("port-check", "port-check-monitoring")}
    assert checked["port-check-monitoring"] == set(MONITORING_PORTS)
    assert checked["port-check"] == set(PORT_VARIABLES)
    published = {re.search(r"\$\{(\w+)\}", port)[1] for s in services.values()
                 for port in s.get("ports", [])}
    assert published == set(env) == checked["port-check"] | checked["port-check-monitoring"]
    for name in ("prometheus", "grafana"):
        assert services[name]["depends_on"].keys() & {"port-check-monitoring", "prometheus"}


# --- with the stack running -----------------------------------------------------------------

@dataclass
class MonitoredStack:
    compose: Any
    ports: dict[str, int]
    grafana: bool

    def url(self, variable: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[variable]}{path}"


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    """An instant query's samples (Prometheus's HTTP API)."""
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def missing_data(prometheus: str) -> list[str]:
    """The dashboard's queries that return no sample with a number (NaN does not count),
    each as `panel [refId]: why`; empty when every panel has data."""
    problems = []
    for title, ref, expr in dashboard_queries():
        try:
            samples = query(prometheus, promql(expr))
        except (OSError, urllib.error.URLError, AssertionError) as exc:
            problems.append(f"{title} [{ref}]: {exc}")
            continue
        values = [float(s["value"][1]) for s in samples]
        if not any(math.isfinite(v) for v in values):
            problems.append(f"{title} [{ref}]: {len(values)} samples, none a number")
    return problems


def _get(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def send_traffic(urls: dict[str, str]) -> dict[str, int]:
    """A few queries of each kind the dashboard shows; the statuses seen, counted."""
    seen: dict[str, int] = {}
    calls = [f"{urls[n]}/api/g_variants?{COUNT_QUERY}" for n in ("fi", "se", "es")]
    calls += [f"{urls['network']}/network/api/g_variants?{COUNT_QUERY}",
              f"{urls['fi']}/api/datasets", f"{urls['se']}/api/info"]
    calls += [f"{urls['fi']}/api/g_variants?{COUNT_QUERY}"] * (BUDGET + 1)   # spends it all
    for url in calls:
        status = _get(url)
        seen[str(status)] = seen.get(str(status), 0) + 1
    return seen


def _budget_override(directory: Path) -> Path:
    """node-fi with a tiny anonymous budget, so that the stack refuses some queries (429)."""
    override = directory / "monitoring-test.override.yml"
    disclosure = json.dumps({"anonymous": {"budget_per_window": BUDGET}})
    override.write_text("services:\n  node-fi:\n    environment:\n"
                        f"      GDI_NODE_DISCLOSURE: '{disclosure}'\n", encoding="utf-8")
    return override


def _image_present(image: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", image], capture_output=True,
                          check=False).returncode == 0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MonitoredStack]:
    _require_engine()
    from testcontainers.compose import DockerCompose
    names = (*PORT_VARIABLES, *MONITORING_PORTS)
    ports = dict(zip(names, published_ports(len(names)), strict=True))
    grafana_image = os.environ.get("GRAFANA_IMAGE") or _image_default("GRAFANA_IMAGE")
    # CI reaches no registry and has no Grafana stand-in: without its image, the stack runs
    # without Grafana and the Prometheus side is what is tested.
    grafana = _image_present(grafana_image)
    override = _budget_override(tmp_path_factory.mktemp("monitoring"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("COMPOSE_PROJECT_NAME", f"gdi-compose-test-monitoring-{os.getpid()}")
        for name, port in ports.items():
            env.setenv(name, str(port))
        env.setenv("GDI_SYNTH_RECORDS", "1000")
        compose = DockerCompose(str(ROOT), compose_file_name=["docker-compose.yml",
                                                                str(override)],
                                pull=False, build=True, wait=True, profiles=["monitoring"])
        command = compose.docker_compose_command()
        services = subprocess.run([*command, "config", "--services"], cwd=ROOT, check=True,
                                  capture_output=True, text=True).stdout.split()
        compose.services = [s for s in services if grafana or s != "grafana"]
        try:
            compose.start()
            yield MonitoredStack(compose, ports, grafana)
        except subprocess.CalledProcessError as exc:
            logs = subprocess.run([*command, "logs", "--tail", "30"], cwd=ROOT,
                                  capture_output=True, text=True, check=False).stdout
            pytest.fail(f"docker compose failed: {exc.stderr.decode(errors='replace')}\n{logs}")
        finally:
            subprocess.run([*command, "down", "--volumes", "--remove-orphans"], cwd=ROOT,
                           capture_output=True, check=False, timeout=300)


@pytest.mark.compose
def test_every_dashboard_query_returns_data_from_the_running_stack(stack: MonitoredStack):
    prometheus = stack.url("GDI_PROMETHEUS_PORT", "")
    urls = {"fi": stack.url("GDI_FI_PORT", ""), "se": stack.url("GDI_SE_PORT", ""),
            "es": stack.url("GDI_ES_PORT", ""), "network": stack.url("GDI_NETWORK_PORT", "")}
    statuses: dict[str, int] = {}
    problems = ["not asked yet"]
    deadline = time.monotonic() + 180
    while problems and time.monotonic() < deadline:
        for status, count in send_traffic(urls).items():
            statuses[status] = statuses.get(status, 0) + count
        time.sleep(3)
        problems = missing_data(prometheus)
    assert not problems, f"no data after 180 s (statuses sent: {statuses}):\n" + \
        "\n".join(problems)
    assert statuses.get("429"), statuses           # the budget refused some, as set up
    up = query(prometheus, 'up{job=~"node|network"}')
    assert {s["metric"]["instance"]: s["value"][1] for s in up} == dict.fromkeys(SCRAPED, "1")
    # The dashboard's variable, label_values(SELECTOR, LABEL), offers every instance.
    for variable in dashboard()["templating"]["list"]:
        selector, label = re.fullmatch(r"label_values\((.+),\s*(\w+)\)",
                                       variable["query"]).groups()
        labels = get_json(f"{prometheus}/api/v1/label/{label}/values?"
                          + urllib.parse.urlencode({"match[]": selector}))
        assert set(labels["data"]) == SCRAPED, variable["name"]


@pytest.mark.compose
def test_grafana_serves_the_provisioned_dashboard_with_data(stack: MonitoredStack):
    if not stack.grafana:
        pytest.skip("no Grafana image here (CI reaches no registry; docker pull "
                    f"{_image_default('GRAFANA_IMAGE')} or set GRAFANA_IMAGE)")
    base = stack.url("GDI_GRAFANA_PORT", "")
    _wait_until(lambda: _get(f"{base}/api/health") == 200, "Grafana healthy")
    board = get_json(f"{base}/api/dashboards/uid/gdi-federation")     # anonymous viewer
    assert board["dashboard"]["title"] == dashboard()["title"]
    assert board["meta"]["provisioned"] is True
    credentials = base64.b64encode(b"admin:dev-only-grafana-password").decode()
    body = json.dumps({"from": "now-5m", "to": "now", "queries": [
        {"refId": "A", "datasource": {"uid": "gdi-prometheus"}, "expr": "up",
         "instant": True}]}).encode()
    request = urllib.request.Request(f"{base}/api/ds/query", body, headers={
        "Content-Type": "application/json", "Authorization": f"Basic {credentials}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        frames = json.load(response)["results"]["A"]["frames"]
    assert len(frames) >= len(SCRAPED)
