"""The README's table of scrape jobs (Monitoring modes) is what the stacks synthesize: the labels and
port names a user checks with `kubectl get pods --show-labels` when a job finds nothing."""

import re

import yaml

from tests.synth import REPO


def readme_rows() -> dict[str, tuple[str, str]]:
    text = (REPO / "README.md").read_text()
    table = text[text.index("| job | namespace | pod labels | container port |"):]
    rows = {}
    previous_labels = ""
    for line in table.splitlines()[2:]:
        if not line.startswith("| `"):
            break
        job, _namespace, labels, port = [c.strip() for c in line.strip("|").split("|")]
        labels = previous_labels if labels == "the same" else labels
        previous_labels = labels
        rows[job.strip("`")] = (labels, port)
    return rows


def test_the_readme_lists_each_jobs_labels_and_port_name(synthesized):
    values = synthesized.helm_values("platform", "prometheus_chart_release")
    jobs = {j["job_name"]: j for j in yaml.safe_load(synthesized.resolve_cross_stack(values["extraScrapeConfigs"]))}
    rows = readme_rows()
    assert set(rows) == set(jobs) == {"caretta", "goflow2", "flow-exporter"}
    for name, job in jobs.items():
        labels, port = rows[name]
        keep = {r["source_labels"][0]: r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"}
        assert port.startswith(f"`{keep.pop('__meta_kubernetes_pod_container_port_name')}`"), name
        documented = re.findall(r"`([^=`]+)=([^`]+)`", labels)
        assert len(documented) == len(keep), name
        for key, value in documented:
            meta = "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)
            assert keep[meta] == value or value == "<caretta.release_name>" and keep[meta] == "caretta", (name, key)
