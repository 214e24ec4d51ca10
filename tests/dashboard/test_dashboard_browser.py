"""The dashboard in headless Chromium: log in, click through every page, and check what is
shown against the API (step names and states, metrics, files, lineage, traffic, profiles)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_helpers import API, Seeded

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def alice(login: Callable[[str], Any]) -> Iterator[Any]:
    page = login("alice")
    yield page
    assert page.js_errors == [], page.js_errors


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def ready(page: Any, name: str, timeout: float = 15_000) -> None:
    page.wait_for_selector(f'.page[data-page="{name}"][data-ready="true"]', timeout=timeout)


def click_to(page: Any, selector: str, name: str, timeout: float = 15_000) -> None:
    """Click a link that changes the route, then wait for the page it opens. The page shown
    is marked first: the hashchange that replaces it fires after click() returns, and on a
    busy machine ready() could otherwise see the old page, ready, and return at once."""
    page.eval_on_selector("#view > .page", "el => { el.dataset.stale = 'true'; }")
    page.click(selector)
    page.wait_for_selector(f'.page[data-page="{name}"][data-ready="true"]:not([data-stale])',
                           timeout=timeout)


def nav(page: Any, name: str) -> None:
    click_to(page, f'#nav a[data-page="{name}"]', name)


def go(page: Any, fragment: str, name: str) -> None:
    page.evaluate("(h) => { window.location.hash = h; }", fragment)
    ready(page, name)


def eventually(check: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Retry `check` until it returns a truthy value (the page polls the API every second)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except AssertionError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{what or 'condition'} not reached: {last!r}")


def pairs(page: Any, selector: str, key: str, value: str) -> dict[str, str]:
    """{data-KEY: data-VALUE} of the elements, read at one instant (pages re-render)."""
    found = page.eval_on_selector_all(
        selector, f"els => els.map(e => [e.dataset.{key}, e.dataset.{value}])")
    return dict(found)


def dag_states(page: Any, card: str = "#card-graph") -> dict[str, str]:
    return pairs(page, f"{card} g.node", "id", "state")


def api_states(seeded: Seeded, run_id: str) -> dict[str, str]:
    steps = seeded.get(f"/runs/{run_id}/steps")["items"]
    return {s["id"]: s["state"] for s in steps if s["id"] == s["name"]}


def texts(page: Any, selector: str) -> list[str]:
    found = page.eval_on_selector_all(selector, "els => els.map(e => e.textContent)")
    return [t.strip() for t in found]


def attr(page: Any, selector: str, name: str) -> list[str]:
    return list(page.eval_on_selector_all(selector, f"els => els.map(e => e.dataset.{name})"))


def predict(seeded: Seeded, url: str, request: dict[str, Any]) -> dict[str, Any]:
    """One prediction through the gateway (a busy machine may answer 502-504 once)."""
    for _ in range(5):
        sent = seeded.admin.post(url, json=request)
        if sent.status_code not in (502, 503, 504):
            break
        time.sleep(0.5)
    assert sent.status_code == 200, sent.text
    answer: dict[str, Any] = sent.json()
    return answer


# -- home, runs ------------------------------------------------------------------------------
def test_home_shows_what_runs_and_what_happened(alice: Any, seeded: Seeded,
                                                screenshots: Path) -> None:
    nav(alice, "home")
    running = seeded.get("/runs", namespace="team-a", state="Running")["items"]
    assert [r["id"] for r in running] == [seeded.runs["live"]]
    eventually(lambda: texts(alice, "#home-stats .stat-value")[0] == "1", what="running count")
    links = alice.eval_on_selector_all("#home-running a", "els => els.map(e => e.hash)")
    assert f"#/runs/{seeded.runs['live']}" in links
    assert len(texts(alice, "#home-activity li")) >= 5
    endpoints = texts(alice, "#home-endpoints tbody tr td:first-child")
    assert endpoints == ["iris"]
    assert alice.inner_text("#who") == "alice"
    shot(alice, screenshots, "01-home")


def test_runs_page_lists_the_runs_of_the_profile(alice: Any, seeded: Seeded,
                                                 screenshots: Path) -> None:
    nav(alice, "runs")
    expected = [r["id"] for r in seeded.get("/runs", namespace="team-a")["items"]]
    assert seeded.runs["bob"] not in expected
    eventually(lambda: attr(alice, "#runs-table tbody tr", "run") == expected, what="run rows")
    states = pairs(alice, "#runs-table tbody tr", "run", "state")
    assert states[seeded.runs["live"]] == "Running"
    assert states[seeded.runs["first"]] == "Succeeded"
    shot(alice, screenshots, "02-runs")


def test_run_graph_steps_and_log_follow_a_live_run(alice: Any, seeded: Seeded,
                                                   screenshots: Path) -> None:
    run_id = seeded.runs["live"]
    click_to(alice, f'a.run-link[data-run="{run_id}"]', "run")
    graph = seeded.get(f"/runs/{run_id}/graph")
    assert set(dag_states(alice)) == {n["name"] for n in graph["nodes"]} == \
        {"load", "train", "evaluate", "announce"}
    # the step waits at the marker: states are stable and must be the API's
    eventually(lambda: dag_states(alice)["evaluate"] == "Running", what="evaluate running")
    eventually(lambda: {k: v for k, v in dag_states(alice).items() if v} ==
               api_states(seeded, run_id), what="DAG states = API states")
    edges = alice.eval_on_selector_all(
        "#card-graph path.edge", "els => els.map(e => [e.dataset.source, e.dataset.target])")
    assert sorted(map(tuple, edges)) == sorted((e["source"], e["target"])
                                               for e in graph["edges"])
    alice.click('#card-graph g.node[data-id="evaluate"]')
    alice.wait_for_function(
        "() => document.querySelector('#step-log')?.textContent.includes('waiting for the marker')")
    assert "Running" in alice.inner_text("#step-title")
    shot(alice, screenshots, "03-run-live")
    assert seeded.marker is not None
    seeded.marker.touch()
    # the log goes on by itself (followed live), the graph turns green
    alice.wait_for_function(
        "() => document.querySelector('#step-log').textContent.includes('marker seen')",
        timeout=20_000)
    alice.wait_for_selector('#run-state .badge[data-state="Succeeded"]', timeout=20_000)
    final = api_states(seeded, run_id)
    assert final["evaluate"] == "Succeeded"
    assert set(final) == {"load", "train", "evaluate", "announce"}
    assert set(final.values()) <= {"Succeeded", "Cached"}  # announce may come from the cache
    eventually(lambda: dag_states(alice) == final, what="final DAG states")
    eventually(lambda: "complete" in alice.inner_text("#log-state"), what="log complete")
    log = seeded.admin.get(f"{API}/runs/{run_id}/steps/evaluate/log").text
    assert alice.inner_text("#step-log").strip() == log.strip()
    outputs = seeded.get(f"/runs/{run_id}/steps")["items"]
    evaluate = next(s for s in outputs if s["id"] == "evaluate")
    assert evaluate["outputs"] == {"Output": "forest"}
    assert "forest" in alice.inner_text("#step-panel")
    # a loop: one record per iteration, each with its own log
    alice.click('#card-graph g.node[data-id="train"]')
    alice.click('#step-panel .iterations button:has-text("train[1]")')
    alice.wait_for_function(
        "() => document.querySelector('#step-log').textContent.includes('trained forest')")
    shot(alice, screenshots, "04-run-done")


def test_run_metrics_artifact_previews_and_downloads(alice: Any, seeded: Seeded,
                                                     screenshots: Path) -> None:
    run_id = seeded.runs["live"]
    artifacts = seeded.get(f"/runs/{run_id}/artifacts")["items"]
    eventually(lambda: len(texts(alice, "#run-artifacts .artifact-row .name")) == len(artifacts),
               what="every artifact listed")
    for art in artifacts:
        if art["type"] not in ("Metrics", "ClassificationMetrics"):
            continue
        for key, value in art["metadata"].items():
            if not isinstance(value, int | float):
                continue
            shown = alice.inner_text(
                f'#run-metrics .metric[data-metric="{key}"][data-step="{art["step_id"]}"] .v')
            assert float(shown.replace(",", "")) == pytest.approx(value, rel=1e-3)
    quality = next(a for a in artifacts if a["name"] == "quality")
    matrix = quality["metadata"]["confusionMatrix"]["matrix"]
    assert texts(alice, "#run-metrics table.confusion td") == [str(v) for row in matrix
                                                               for v in row]
    assert alice.query_selector('#run-metrics svg[aria-label="ROC curve"] polyline') is not None
    # a CSV dataset previews as a table; an HTML report in a sandboxed frame
    data_row = '#run-artifacts .artifact-row[data-name="data"]'
    alice.click(f"{data_row} button:has-text('Preview')")
    alice.wait_for_selector(f"{data_row} .preview table")
    assert texts(alice, f"{data_row} .preview thead th") == ["x", "y", "label"]
    assert len(texts(alice, f"{data_row} .preview tbody tr")) == 50
    report_row = '#run-artifacts .artifact-row[data-name="report"]'
    alice.click(f"{report_row} button:has-text('Preview')")
    frame = alice.frame_locator(f"{report_row} iframe")
    assert "The best model is forest" in frame.locator("p").inner_text()
    assert alice.get_attribute(f"{report_row} iframe", "sandbox") == ""
    # downloads give the artifact's bytes
    data = next(a for a in artifacts if a["name"] == "data")
    with alice.expect_download() as info:
        alice.click(f"{data_row} a[data-download]")
    body = Path(info.value.path()).read_bytes()
    assert body == seeded.admin.get(f"{API}/artifacts/{data['id']}/content").content
    alice.locator("#card-metrics").scroll_into_view_if_needed()
    shot(alice, screenshots, "05-run-metrics-artifacts")


def test_runs_compared_side_by_side(alice: Any, seeded: Seeded, screenshots: Path) -> None:
    nav(alice, "runs")
    first, second = seeded.runs["first"], seeded.runs["second"]
    alice.check(f'#runs-table input[data-run="{first}"]')
    alice.check(f'#runs-table input[data-run="{second}"]')
    click_to(alice, "#compare-button", "compare")
    rows = '#compare-table tbody tr[data-row="param rows"]'
    assert texts(alice, f"{rows} td") == ["10", "30"]
    assert "diff" in (alice.get_attribute(rows, "class") or "")
    assert "diff" not in (alice.get_attribute(
        '#compare-table tbody tr[data-row="param kinds"]', "class") or "")
    for i, run_id in enumerate((first, second)):
        metrics = seeded.get("/metrics", pipeline="demo", namespace="team-a")["items"]
        mine = next(m for m in metrics if m["run"] == run_id)["metrics"]
        accuracy = next(m["value"] for m in mine
                        if m["step"] == "train[0]" and m["name"] == "accuracy")
        cell = texts(alice, '#compare-table tbody tr[data-row="metric train[0] · accuracy"] td')[i]
        assert float(cell) == pytest.approx(accuracy, rel=1e-3)
    assert alice.query_selector("#card-compare-metrics svg rect") is not None
    shot(alice, screenshots, "06-compare")


# -- pipelines --------------------------------------------------------------------------------
def test_pipeline_page_draws_the_graph_and_starts_a_run(alice: Any, seeded: Seeded,
                                                        screenshots: Path) -> None:
    nav(alice, "pipelines")
    assert "demo" in attr(alice, "#card-pipelines tbody tr", "pipeline")
    assert "bobs-demo" not in attr(alice, "#card-pipelines tbody tr", "pipeline")
    click_to(alice, '#card-pipelines tr[data-pipeline="demo"] a', "pipelines")
    graph = seeded.get("/namespaces/team-a/pipelines/demo/graph")
    assert set(dag_states(alice, "#card-pipeline-graph")) == {n["name"] for n in graph["nodes"]}
    trend = alice.eval_on_selector_all("#card-trend polyline",
                                       "els => els.map(e => e.dataset.series)")
    assert "train[0]" in trend
    alice.click("#run-pipeline")
    alice.fill('#card-run-form input[name="rows"]', "7")
    shot(alice, screenshots, "07-pipeline")
    click_to(alice, "#start-run", "run")
    run_id = alice.evaluate("location.hash").split("/")[2].split("?")[0]
    run = seeded.get(f"/runs/{run_id}")
    assert run["parameters"]["rows"] == 7 and run["namespace"] == "team-a"
    assert run["pipeline_name"] == "demo"
    assert set(dag_states(alice)) == {n["name"] for n in graph["nodes"]}


# -- data -------------------------------------------------------------------------------------
def test_data_repos_files_commits_and_provenance(alice: Any, seeded: Seeded,
                                                 screenshots: Path) -> None:
    base = "/namespaces/team-a/data/repos"
    nav(alice, "data")
    repos = [r["name"] for r in seeded.get(base)["items"]]
    assert sorted(attr(alice, "#card-repos tbody tr", "repo")) == sorted(repos) == \
        ["images", "models"]
    click_to(alice, '#card-repos tr[data-repo="images"] a', "data")
    listing = seeded.get(f"{base}/images/files", ref="master")["items"]
    assert sorted(attr(alice, "#file-list li", "path")) == sorted(
        e["path"].lstrip("/") for e in listing)
    click_to(alice, '#file-list li[data-path="labels"] a', "data")
    click_to(alice, '#file-list li[data-path="labels/train.csv"] a', "data")
    assert "a.png,cat" in alice.inner_text("#file-preview")
    shot(alice, screenshots, "08-data-file")
    click_to(alice, '#card-repo .tab[data-tab="commits"]', "data")
    log = seeded.get(f"{base}/images/commits", ref="master")["items"]
    assert attr(alice, "#data-tab tbody tr", "commit") == [c["id"] for c in log]
    nav(alice, "data")
    click_to(alice, '#card-repos tr[data-repo="models"] a', "data")
    click_to(alice, '#card-repo .tab[data-tab="provenance"]', "data")
    lineage = seeded.get(f"{base}/models/lineage", ref="master", direction="both")
    shown = attr(alice, "#provenance-graph g.node", "id")
    assert sorted(shown) == sorted(n["id"] for n in lineage["nodes"])
    assert f"run:{seeded.runs['lineage']}" in shown
    assert len(alice.query_selector_all("#provenance-graph path.edge")) == len(lineage["edges"])
    shot(alice, screenshots, "09-data-provenance")


# -- serving ----------------------------------------------------------------------------------
def test_serving_endpoints_traffic_and_statistics(alice: Any, seeded: Seeded,
                                                  screenshots: Path) -> None:
    nav(alice, "serving")
    assert attr(alice, "#graphs-list tbody tr", "graph") == ["iris"]
    assert alice.query_selector('#graphs-list .badge[data-state="Ready"]') is not None
    click_to(alice, '#graphs-list tr[data-graph="iris"] a', "serving")
    spec = seeded.get("/namespaces/team-a/inferencegraphs/iris")["spec"]
    shown = pairs(alice, "#traffic-split tbody tr", "predictor", "traffic")
    assert shown == {p["name"]: str(p["traffic"]) for p in spec["predictors"]}
    routes = [r for r in seeded.get("/gateway/routes")["items"]
              if r["kind"] == "InferenceGraph"]
    assert routes[0]["prefix"] in alice.inner_text("#serving-facts")
    tree = set(attr(alice, "#card-tree g.node", "id"))
    assert {"p:main/echo", "p:canary/bandit", "p:canary/bandit/arm0"} <= tree
    # traffic through the gateway, with feedback that rewards arm1 only
    gateway = f"{seeded.url}/serving/team-a/iris/api/v1.0"
    request = {"data": {"ndarray": [[1.0, 2.0]]}}
    for _ in range(40):
        answer = predict(seeded, f"{gateway}/predictions", request)
        if answer["meta"]["predictor"] == "canary":
            reward = 1.0 if answer["meta"]["routing"]["bandit"] == 1 else 0.0
            seeded.admin.post(f"{gateway}/feedback", json={
                "request": request, "response": answer, "reward": reward}).raise_for_status()
    stats = seeded.get("/namespaces/team-a/inferencegraphs/iris/stats")
    assert stats["requests"] >= 40
    eventually(lambda: alice.inner_text('#serving-stats [data-stat="requests"] .stat-value')
               == str(stats["requests"]), what="request count shown")
    for node in stats["nodes"]:
        key = f'{node["predictor"]}/{node["node"]}'
        assert alice.get_attribute(f'#serving-live tr[data-node="{key}"]', "data-requests") \
            == str(node["requests"])
    router = stats["routers"][0]
    shown = pairs(alice, "#serving-arms tr[data-arm]", "arm", "pulls")
    assert shown == {a["child"]: str(a["pulls"]) for a in router["arms"]}
    if "best" in router:
        best = router["arms"][router["best"]]["child"]
        assert "best" in alice.inner_text(f'#serving-arms tr[data-arm="{best}"]')
    eventually(lambda: float(alice.get_attribute("#serving-live", "data-peak-rate") or 0) > 0,
               what="a request rate above 0 on the live chart")
    shot(alice, screenshots, "10-serving")
    for width in (1400, 1100):  # side by side with the charts, then above them
        arms_fit_without_scrolling(alice, width)


def arms_fit_without_scrolling(page: Any, width: int) -> None:
    """At `width` px every column of the router arms table, Mean reward the last, is in
    view: nothing hides behind the table's horizontal scroll."""
    size = page.viewport_size
    page.set_viewport_size({"width": width, "height": size["height"]})
    try:
        fits = page.eval_on_selector_all("#serving-arms .table-wrap", """wraps => wraps.map(w => {
            const box = w.getBoundingClientRect();
            const last = [...w.querySelectorAll("th")].pop();
            return {label: last.textContent, right: last.getBoundingClientRect().right,
                    edge: box.right, scroll: w.scrollWidth, client: w.clientWidth};
        })""")
    finally:
        page.set_viewport_size(size)
    assert fits, "no router arms table"
    for fit in fits:
        assert fit["label"] == "Mean reward", fit
        assert fit["scroll"] <= fit["client"] and fit["right"] <= fit["edge"] + 0.5, fit


# -- profiles, notebooks ----------------------------------------------------------------------
def test_profiles_show_contributors_and_owners_manage_them(alice: Any, seeded: Seeded,
                                                           screenshots: Path) -> None:
    nav(alice, "profiles")
    card = "#profile-team-a"

    def members() -> dict[str, str]:
        return pairs(alice, f"{card} tbody tr", "user", "role")

    mine = next(p for p in seeded.api("alice").get(f"{API}/profiles").json()["items"]
                if p["name"] == "team-a")
    assert members() == {mine["owner"]: "owner", **mine["contributors"]} == \
        {"alice": "owner", "bob": "view"}
    alice.fill(f"{card} .add-contributor input[name=user]", "carol")
    alice.select_option(f"{card} .add-contributor select[name=role]", "edit")
    alice.click(f"{card} .add-contributor button")  # a PUT with the session's CSRF token
    eventually(lambda: members().get("carol") == "edit", what="carol listed")
    profiles = seeded.get("/profiles")["items"]
    assert next(p for p in profiles if p["name"] == "team-a")["contributors"]["carol"] == "edit"
    shot(alice, screenshots, "11-profiles")
    alice.click(f'{card} tr[data-user="carol"] button')
    eventually(lambda: "carol" not in members(), what="carol removed")
    profiles = seeded.get("/profiles")["items"]
    assert "carol" not in next(p for p in profiles if p["name"] == "team-a")["contributors"]


# -- another profile, logout ------------------------------------------------------------------
def test_a_user_of_another_profile_sees_none_of_it(login: Callable[[str], Any],
                                                   seeded: Seeded,
                                                   screenshots: Path) -> None:
    carol = login("carol")
    assert texts(carol, "#namespace option") == ["All profiles", "team-c (owner)"]
    nav(carol, "runs")
    assert attr(carol, "#runs-table tbody tr", "run") == []
    assert "No runs yet" in carol.inner_text("#runs-table")
    nav(carol, "pipelines")
    assert attr(carol, "#card-pipelines tbody tr", "pipeline") == []
    nav(carol, "data")
    assert attr(carol, "#card-repos tbody tr", "repo") == []
    nav(carol, "serving")
    assert attr(carol, "#graphs-list tbody tr", "graph") == []
    go(carol, f"#/runs/{seeded.runs['first']}", "run")
    assert "not found" in carol.inner_text(".page .alert-bad")
    shot(carol, screenshots, "13-other-profile")
    assert carol.js_errors == []


def test_logout_ends_the_session(login: Callable[[str], Any], seeded: Seeded) -> None:
    bob = login("bob")
    assert "team-a (view)" in texts(bob, "#namespace option")
    bob.click("form.logout button")
    bob.wait_for_url(f"{seeded.url}/login")
    assert bob.request.get(f"{seeded.url}{API}/whoami").status == 401


def test_notebooks_listed_with_an_open_link(alice: Any, seeded: Seeded,
                                            screenshots: Path) -> None:
    nav(alice, "notebooks")
    alice.fill("#notebook-name", "explore")
    alice.click("#create-notebook")
    row = '#notebooks-list tr[data-notebook="explore"]'
    alice.wait_for_selector(row)  # arrives through the watch stream
    body = seeded.get("/namespaces/team-a/notebooks/explore")
    assert body["spec"]["environment"] == "python"
    assert alice.get_attribute(f"{row} a[data-open]", "href") == "/notebook/team-a/explore/"
    shot(alice, screenshots, "12-notebooks")
    alice.click(f"{row} button:has-text('Stop')")  # an action, with the CSRF token
    eventually(lambda: "notebooks.flowyard.dev/stopped" in seeded.get(
        "/namespaces/team-a/notebooks/explore")["metadata"].get("annotations", {}),
        timeout=60, what="stopped annotation")  # a loaded machine may still be spawning
    eventually(lambda: alice.get_attribute(f"{row} .badge", "data-state")
               in ("Stopping", "Stopped"), what="shown as stopping")
