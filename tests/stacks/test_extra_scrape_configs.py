"""netviz_constructs.extra_scrape_configs: the text the prometheus chart pastes into prometheus.yml."""

import pytest
import yaml

from netviz_constructs.extra_scrape_configs import extra_scrape_configs
from netviz_constructs.scrape import PodScrapeTarget

OURS = [
    PodScrapeTarget(job_name="caretta", namespace="caretta", pod_labels={"app": "caretta"}, port_name="prom-metrics",
                    scrape_interval="30s").prometheus_job()
]


def collection_styles(text):
    """flow_style of every list and mapping node of the YAML `text`."""
    styles, todo = [], [yaml.compose(text)]
    while todo:
        node = todo.pop()
        if isinstance(node, yaml.SequenceNode):
            styles.append(node.flow_style)
            todo.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            styles.append(node.flow_style)
            todo.extend(v for kv in node.value for v in kv)
    return styles


def test_every_list_and_mapping_is_block_style():
    theirs = {"extraScrapeConfigs": '[{"job_name": "nas", "static_configs": [{"targets": ["nas:9100"]}]}]'}
    text = extra_scrape_configs(theirs, OURS)
    assert collection_styles(text) and not any(collection_styles(text))
    assert text.startswith("- job_name: nas\n")  # a list at column 0, as the chart indents it itself


def test_keys_keep_their_order_and_the_users_jobs_come_first():
    theirs = {"extraScrapeConfigs": "- static_configs: []\n  job_name: nas\n"}
    jobs = yaml.safe_load(extra_scrape_configs(theirs, OURS))
    assert [j["job_name"] for j in jobs] == ["nas", "caretta"]
    assert list(jobs[0]) == ["static_configs", "job_name"]  # the user's order, as written
    assert list(jobs[1])[:2] == ["job_name", "scrape_interval"]


def test_a_users_dollar_brace_and_template_are_kept_as_text():
    theirs = {"extraScrapeConfigs": "- job_name: nas\n  relabel_configs:\n  - replacement: ${1}\n    target_label: x\n"
              "  - replacement: '{{ .Release.Namespace }}'\n    target_label: y\n"}
    (nas, _) = yaml.safe_load(extra_scrape_configs(theirs, OURS))
    assert [r["replacement"] for r in nas["relabel_configs"]] == ["${1}", "{{ .Release.Namespace }}"]


@pytest.mark.parametrize(
    "value, message",
    [
        ([{"job_name": "nas"}], r"extraScrapeConfigs must be a string holding a YAML list .* but a list was given"),
        ("- job_name: nas\n  regex: {{ .Values.x }}\n", r"extraScrapeConfigs: netviz must read your jobs .* not YAML as written"),
        ("job_name: nas\n", r"extraScrapeConfigs must be a YAML list of scrape jobs, each with a job_name"),
        ("- static_configs: []\n", r"extraScrapeConfigs must be a YAML list of scrape jobs, each with a job_name"),
        ("- job_name: caretta\n", r"extraScrapeConfigs already has job\(s\) \['caretta'\]"),
    ],
)
def test_users_value_problems_name_the_field(value, message):
    with pytest.raises(ValueError, match=r"^monitoring\.prometheus\.values_file: " + message):
        extra_scrape_configs({"extraScrapeConfigs": value}, OURS)


def test_a_template_in_netvizs_own_jobs_is_refused():
    # Helm's tpl would evaluate it; nothing of netviz's may be a template.
    job = PodScrapeTarget(job_name="x", namespace="n", pod_labels={"a": "b"}, port_name="p", scrape_interval="30s",
                          extra_labels={"cluster": "{{ .Release.Name }}"}).prometheus_job()
    with pytest.raises(ValueError, match=r"scrape job 'x': '\{\{' in a value would be evaluated by Helm's tpl"):
        extra_scrape_configs({}, [job])


def test_no_user_jobs_gives_netvizs_alone():
    for empty in ({}, {"extraScrapeConfigs": ""}, {"extraScrapeConfigs": None}, {"extraScrapeConfigs": "# none\n"}):
        assert [j["job_name"] for j in yaml.safe_load(extra_scrape_configs(empty, OURS))] == ["caretta"]
