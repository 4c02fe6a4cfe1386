"""network.toml: the design note's values load; every kind of bad value is refused by name."""

import os
import subprocess
import sys

import pytest

import netviz_config
from tests.synth import DEFAULT_CONFIG, REPO, toml_of


def load_text(tmp_path, text):
    path = tmp_path / "network.toml"
    path.write_text(text)
    return netviz_config.load(str(path))


def problems_of(tmp_path, text):
    with pytest.raises(netviz_config.ConfigError) as err:
        load_text(tmp_path, text)
    return err.value.problems


def test_default_config_is_the_design_note():
    c = netviz_config.load(str(DEFAULT_CONFIG))
    assert {s.name: s.cidr for s in c.subnets} == {
        "home": "192.168.1.0/24",
        "storage": "10.0.10.0/24",
        "kubernetes": "10.0.20.0/24",
    }
    assert [n.address for n in c.kubernetes.nodes] == [f"10.0.20.{i}" for i in range(100, 105)]
    assert {h.name: h.address for h in c.hosts} == {
        "isp-router": "192.168.1.1",
        "proxmox": "192.168.1.127",
        "pfsense": "10.0.20.1",
        "truenas": "10.0.10.15",
    }
    assert c.pfsense.address == "10.0.20.1"
    assert c.goflow2.netflow_node_port == 32055
    assert c.subnet_of("10.0.10.15").name == "storage"
    assert c.subnet_of("8.8.8.8") is None


def edit(old, new):
    text = DEFAULT_CONFIG.read_text()
    assert old in text, old
    return text.replace(old, new, 1)


def test_invalid_ip_address_is_named(tmp_path):
    (p,) = problems_of(tmp_path, edit('address = "10.0.10.15"', 'address = "10.0.10.256"'))
    assert p == "hosts[3].address: expected an IPv4 or IPv6 address such as 10.0.20.1, but '10.0.10.256' was provided"


def test_invalid_cidr_is_named(tmp_path):
    (p,) = problems_of(tmp_path, edit('cidr = "10.0.10.0/24"', 'cidr = "10.0.10.0/33"'))
    assert p.startswith("subnets[1].cidr: expected a network in CIDR form")
    assert "'10.0.10.0/33'" in p


def test_cidr_with_host_bits_is_refused(tmp_path):
    (p,) = problems_of(tmp_path, edit('cidr = "10.0.10.0/24"', 'cidr = "10.0.10.15/24"'))
    assert p.startswith("subnets[1].cidr:") and "no host bits" in p


def test_overlapping_subnets_are_refused(tmp_path):
    (p,) = problems_of(tmp_path, edit('cidr = "10.0.10.0/24"', 'cidr = "10.0.0.0/16"'))
    assert p == (
        "subnets[2].cidr: expected a network that overlaps no other subnet, but '10.0.20.0/24' "
        "overlaps subnets[1] 'storage' (10.0.0.0/16)"
    )


def test_node_outside_every_subnet_is_refused(tmp_path):
    (p,) = problems_of(tmp_path, edit('address = "10.0.20.104"', 'address = "10.0.30.104"'))
    assert p.startswith("kubernetes.nodes[4].address: expected an address inside a configured subnet")
    assert "'10.0.30.104' (k8s-node-4)" in p


@pytest.mark.parametrize("port", [80, 29999, 32768])
def test_nodeport_outside_30000_32767_is_refused(tmp_path, port):
    (p,) = problems_of(tmp_path, edit("netflow_node_port = 32055", f"netflow_node_port = {port}"))
    assert p == (
        "goflow2.netflow_node_port: expected a NodePort between 30000 and 32767 (Kubernetes' default range), "
        f"but {port} was provided"
    )


def test_nodeport_of_the_wrong_type_is_refused(tmp_path):
    (p,) = problems_of(tmp_path, edit("netflow_node_port = 32055", 'netflow_node_port = "32055"'))
    assert p == "goflow2.netflow_node_port: expected a whole number, but '32055' was provided"


def test_unknown_key_is_refused_with_the_known_ones(tmp_path):
    (p,) = problems_of(tmp_path, edit('ssh_user = "admin"', 'ssh_user = "admin"\nssh_pasword = "x"'))
    assert p == (
        "pfsense.ssh_pasword: unknown key (expected one of: address, manage_softflowd, ssh_host_key, ssh_port, "
        "ssh_private_key_file, ssh_user)"
    )


def test_missing_required_value_is_named(tmp_path):
    text = edit('[pfsense]\naddress = "10.0.20.1"\n', "[pfsense]\n")
    (p,) = problems_of(tmp_path, text)
    assert p.startswith("pfsense.address: missing required value")


def test_every_problem_is_reported_at_once(tmp_path):
    text = edit("netflow_node_port = 32055", "netflow_node_port = 1")
    text = text.replace('cidr = "10.0.10.0/24"', 'cidr = "nope"')
    problems = problems_of(tmp_path, text)
    assert [p.split(":")[0] for p in problems] == ["subnets[1].cidr", "goflow2.netflow_node_port"]


@pytest.mark.parametrize("name", ["Grafana Admin", "{{ .Release.Name }}-admin", "admin:x"])
def test_grafana_admin_secret_must_be_an_object_name(tmp_path, name):
    # The grafana chart pastes it into its YAML after Helm's tpl: only a real name is safe there.
    text = DEFAULT_CONFIG.read_text() + f'\n[monitoring.grafana]\nadmin_existing_secret = "{name}"\n'
    (p,) = problems_of(tmp_path, text)
    assert p.startswith("monitoring.grafana.admin_existing_secret: expected empty, or a Kubernetes object name: ")
    assert p.endswith(f"but {name!r} was provided")


def test_grafana_admin_secret_may_be_a_dotted_name(tmp_path):
    text = DEFAULT_CONFIG.read_text() + '\n[monitoring.grafana]\nadmin_existing_secret = "grafana.admin-1"\n'
    assert load_text(tmp_path, text).monitoring.grafana.admin_existing_secret == "grafana.admin-1"


def test_latest_image_tag_is_refused(tmp_path):
    (p,) = problems_of(tmp_path, edit('[goflow2]\n', '[goflow2]\nimage = "netsampler/goflow2:latest"\n'))
    assert p == "goflow2.image: expected a pinned tag, not latest, but 'netsampler/goflow2:latest' was provided"


def test_shipped_file_has_no_unknown_sections():
    assert set(toml_of(DEFAULT_CONFIG.read_text())) <= {f.name for f in __import__("dataclasses").fields(netviz_config.NetworkConfig)}


def test_bad_config_stops_synth_before_any_terraform_is_written(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(edit("netflow_node_port = 32055", "netflow_node_port = 80"))
    outdir = tmp_path / "out"
    env = dict(os.environ, NETVIZ_CONFIG=str(bad), CDKTF_OUTDIR=str(outdir))
    proc = subprocess.run([sys.executable, "main.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "goflow2.netflow_node_port: expected a NodePort between 30000 and 32767" in proc.stderr
    assert not outdir.exists()


def test_files_named_by_the_config_can_go_unchecked_for_the_exporter(tmp_path):
    text = DEFAULT_CONFIG.read_text() + '\n[monitoring.prometheus]\nvalues_file = "prometheus-values.yaml"\n'
    path = tmp_path / "network.toml"
    path.write_text(text)
    with pytest.raises(netviz_config.ConfigError) as err:
        netviz_config.load(str(path))
    assert err.value.problems[0].startswith("monitoring.prometheus.values_file: expected a readable YAML file")
    # The exporter gets network.toml alone in its ConfigMap, without the values file.
    assert netviz_config.load(str(path), check_files=False).monitoring.prometheus.values_file == "prometheus-values.yaml"


# ---- whole-network checks: one test per check, and all reported in one pass -----------------


def test_overlap_is_found_whichever_subnet_comes_first(tmp_path):
    """A smaller network after a bigger one, and before it: both orders overlap (`overlaps` is
    symmetric; `subnet_of` in one direction is not)."""
    wide_first = edit('cidr = "10.0.10.0/24"', 'cidr = "10.0.0.0/16"')  # storage covers kubernetes' 10.0.20.0/24
    assert problems_of(tmp_path, wide_first) == [
        "subnets[2].cidr: expected a network that overlaps no other subnet, but '10.0.20.0/24' overlaps "
        "subnets[1] 'storage' (10.0.0.0/16)"
    ]
    narrow_first = edit('cidr = "10.0.20.0/24"', 'cidr = "10.0.0.0/16"')
    assert problems_of(tmp_path, narrow_first) == [
        "subnets[2].cidr: expected a network that overlaps no other subnet, but '10.0.0.0/16' overlaps "
        "subnets[1] 'storage' (10.0.10.0/24)"
    ]


def test_duplicate_subnet_names_are_refused(tmp_path):
    assert problems_of(tmp_path, edit('name = "storage"', 'name = "home"')) == [
        "subnets[1].name: expected a unique value, but 'home' is also subnets[0].name"
    ]


def test_duplicate_host_names_are_refused(tmp_path):
    assert problems_of(tmp_path, edit('name = "truenas"', 'name = "proxmox"')) == [
        "hosts[3].name: expected a unique value, but 'proxmox' is also hosts[1].name"
    ]


def test_a_host_and_a_node_cannot_share_a_name_or_an_address(tmp_path):
    text = edit('name = "truenas"\naddress = "10.0.10.15"', 'name = "k8s-node-3"\naddress = "10.0.20.104"')
    assert problems_of(tmp_path, text) == [
        "kubernetes.nodes[3].name: expected a unique value, but 'k8s-node-3' is also hosts[3].name",
        "kubernetes.nodes[4].address: expected a unique value, but '10.0.20.104' is also hosts[3].address",
    ]


def test_duplicate_node_names_and_addresses_are_refused(tmp_path):
    text = edit('{ name = "k8s-node-1", address = "10.0.20.101" }', '{ name = "k8s-node-0", address = "10.0.20.100" }')
    assert problems_of(tmp_path, text) == [
        "kubernetes.nodes[1].name: expected a unique value, but 'k8s-node-0' is also kubernetes.nodes[0].name",
        "kubernetes.nodes[1].address: expected a unique value, but '10.0.20.100' is also kubernetes.nodes[0].address",
    ]


def test_duplicate_interface_indexes_and_names_are_refused(tmp_path):
    text = edit('pfsense_interface = "lan"\nnetflow_if_index = 1', 'pfsense_interface = "opt1"\nnetflow_if_index = 2')
    assert problems_of(tmp_path, text) == [
        "subnets[2].pfsense_interface: expected a unique value, but 'opt1' is also subnets[1].pfsense_interface",
        "subnets[2].netflow_if_index: expected a unique value, but 2 is also subnets[1].netflow_if_index",
    ]


def test_external_is_a_reserved_subnet_name(tmp_path):
    assert problems_of(tmp_path, edit('name = "home"', 'name = "external"')) == [
        "subnets[0].name: expected a name other than 'external' (it labels addresses in no subnet)"
    ]


def test_collector_node_must_be_a_node(tmp_path):
    assert problems_of(tmp_path, edit('collector_node = "k8s-node-0"', 'collector_node = "k8s-node-9"')) == [
        "goflow2.collector_node: expected the name of a kubernetes.nodes entry, but 'k8s-node-9' was provided"
    ]


def test_a_backend_needs_its_table(tmp_path):
    assert problems_of(tmp_path, edit('backend = "local"', 'backend = "s3"')) == [
        "state.s3: missing required table for state.backend = 's3'"
    ]


def test_collector_and_exporter_ports_must_differ(tmp_path):
    text = DEFAULT_CONFIG.read_text() + "\n[flow_exporter]\nport = 8080\n"
    assert problems_of(tmp_path, text) == [
        "flow_exporter.port: expected a port other than goflow2.metrics_port (both serve in one pod), "
        "but 8080 was provided for both"
    ]


def test_series_budgets_default_per_family_and_each_can_be_set(tmp_path):
    from netviz_config.schema import SERIES_FAMILIES

    c = netviz_config.load(str(DEFAULT_CONFIG))
    assert c.flow_exporter.series_budgets.as_dict() == {f.name: f.default_budget for f in SERIES_FAMILIES}
    # the former max_series default (10000), now split, and beside it the conversations' 4000 + 4000,
    # internet usage's 2000 and policy violations' 1000
    assert c.flow_exporter.series_budgets.total == 10000 + 4000 + 4000 + 2000 + 1000
    text = DEFAULT_CONFIG.read_text() + "\n[flow_exporter.series_budgets]\nexternal_peers = 500\nhosts = 9\n"
    budgets = load_text(tmp_path, text).flow_exporter.series_budgets
    assert (budgets.external_peers, budgets.hosts, budgets.subnet_pairs) == (500, 9, 1500)


@pytest.mark.parametrize("family", ["subnet_pairs", "hosts", "services", "external_peers", "local_conversations",
                                    "external_conversations"])
def test_a_budget_below_what_the_exporter_accepts_is_refused(tmp_path, family):
    from flow_exporter.series import SERIES_PER_KEY, SeriesStore

    smallest = SERIES_PER_KEY[family]  # one key: 3 series for a subnet pair, 1 for the others
    text = DEFAULT_CONFIG.read_text() + f"\n[flow_exporter.series_budgets]\n{family} = {smallest - 1}\n"
    assert problems_of(tmp_path, text) == [
        f"flow_exporter.series_budgets.{family}: expected a whole number of at least {smallest}, "
        f"but {smallest - 1} was provided"
    ]
    with pytest.raises(ValueError):
        SeriesStore({family: smallest - 1})  # the limit the config enforces is the exporter's own
    text = DEFAULT_CONFIG.read_text() + f"\n[flow_exporter.series_budgets]\n{family} = {smallest}\n"
    assert getattr(load_text(tmp_path, text).flow_exporter.series_budgets, family) == smallest


def test_an_unknown_family_is_refused_with_the_known_ones(tmp_path):
    text = DEFAULT_CONFIG.read_text() + "\n[flow_exporter.series_budgets]\ntalkers = 100\n"
    assert problems_of(tmp_path, text) == [
        "flow_exporter.series_budgets.talkers: unknown key (expected one of: external_conversations, external_peers, "
        "hosts, internet_usage, local_conversations, policy_violations, services, subnet_pairs)"
    ]


def test_the_former_max_series_says_what_replaced_it(tmp_path):
    text = DEFAULT_CONFIG.read_text() + "\n[flow_exporter]\nmax_series = 20000\n"
    assert problems_of(tmp_path, text) == [
        "flow_exporter.max_series: no longer a setting: replaced by the per-family "
        "[flow_exporter.series_budgets] table (subnet_pairs = 1500, hosts = 2000, services = 500, external_peers = 6000, "
        "local_conversations = 4000, external_conversations = 4000, internet_usage = 2000, policy_violations = 1000)"
    ]


def test_the_new_series_window_defaults_to_twice_the_scrape_interval(tmp_path):
    assert netviz_config.load(str(DEFAULT_CONFIG)).new_series_zero_seconds == 60.0  # scrape_interval 30s
    text = DEFAULT_CONFIG.read_text() + '\n[monitoring.prometheus]\nscrape_interval = "1m30s"\n'
    assert load_text(tmp_path, text).new_series_zero_seconds == 180.0
    text = DEFAULT_CONFIG.read_text() + '\n[flow_exporter]\nnew_series_zero_window = "45s"\n'
    assert load_text(tmp_path, text).new_series_zero_seconds == 45.0
    # and the exporter uses it
    from flow_exporter.settings import from_network_config

    assert from_network_config(load_text(tmp_path, text)).new_series_zero_seconds == 45.0


@pytest.mark.parametrize("window, interval, problem", [
    ("29s", "30s", "flow_exporter.new_series_zero_window: expected at least monitoring.prometheus.scrape_interval "
                   "(30s: a scraper must scrape a new series at least once while it reads 0), but '29s' was provided"),
    ("500ms", "1s", "flow_exporter.new_series_zero_window: expected at least monitoring.prometheus.scrape_interval "
                    "(1s: a scraper must scrape a new series at least once while it reads 0), but '500ms' was provided"),
    ("soon", "30s", "flow_exporter.new_series_zero_window: expected empty, or a Prometheus duration such as 30s or 1m, "
                    "but 'soon' was provided"),
])
def test_a_new_series_window_shorter_than_a_scrape_interval_is_refused(tmp_path, window, interval, problem):
    text = DEFAULT_CONFIG.read_text() + (f'\n[flow_exporter]\nnew_series_zero_window = "{window}"\n'
                                         f'\n[monitoring.prometheus]\nscrape_interval = "{interval}"\n')
    assert problems_of(tmp_path, text) == [problem]
    ok = text.replace(f'new_series_zero_window = "{window}"', f'new_series_zero_window = "{interval}"')
    assert load_text(tmp_path, ok).new_series_zero_seconds == netviz_config.checks.seconds(interval)


def test_the_window_check_is_skipped_when_the_scrape_interval_is_broken(tmp_path):
    text = DEFAULT_CONFIG.read_text() + ('\n[flow_exporter]\nnew_series_zero_window = "1s"\n'
                                         '\n[monitoring.prometheus]\nscrape_interval = "often"\n')
    assert problems_of(tmp_path, text) == [
        "monitoring.prometheus.scrape_interval: expected a Prometheus duration such as 30s or 1m, but 'often' was provided"
    ]


def test_field_and_whole_network_problems_come_together_in_file_order(tmp_path):
    text = edit('name = "storage"', 'name = "home"')  # a duplicate (whole network), subnets[1]
    text = text.replace('address = "10.0.20.1"\nssh_user', 'address = "10.0.20.300"\nssh_user')  # field, pfsense
    text = text.replace('cidr = "192.168.1.0/24"', 'cidr = "192.168.1.0/33"')  # field, subnets[0]
    text = text.replace('collector_node = "k8s-node-0"', 'collector_node = "k8s-node-7"')  # whole network, goflow2
    assert [p.split(":")[0] for p in problems_of(tmp_path, text)] == [
        "subnets[0].cidr", "subnets[1].name", "pfsense.address", "goflow2.collector_node",
    ]


def test_a_check_on_a_broken_field_is_skipped_not_crashed(tmp_path):
    # A bad CIDR: the node-in-subnet check cannot run (it would blame every node), the others do.
    text = edit('cidr = "10.0.20.0/24"', 'cidr = "ten"').replace('name = "storage"', 'name = "home"')
    assert problems_of(tmp_path, text) == [
        "subnets[1].name: expected a unique value, but 'home' is also subnets[0].name",
        "subnets[2].cidr: expected a network in CIDR form with no host bits set, such as 10.0.20.0/24, but 'ten' was provided",
    ]
    # Whole sections of the wrong type or missing: every other problem is still found.
    broken = 'goflow2 = "x"\n' + edit("[goflow2]\nnetflow_node_port = 32055\n", "[goflow2x]\n").replace(
        'backend = "local"', 'backend = 3')
    problems = problems_of(tmp_path, broken.replace("[kubernetes]\n", "[kubernetes]\nnodes_ = 1\n"))
    assert [p.split(":")[0] for p in problems] == ["goflow2", "kubernetes.nodes_", "goflow2x", "state.backend"]


def test_alert_settings_default_and_load(tmp_path):
    c = load_text(tmp_path, DEFAULT_CONFIG.read_text() + '\n[alerts]\nrecords_stopped_after = "1h"\nseries_budget_percent = 75\n')
    assert (c.alerts.records_stopped_after, c.alerts.series_budget_percent, c.alerts.collector_down_for) == ("1h", 75, "5m")
    assert c.alerts.enabled is True


@pytest.mark.parametrize(
    "line, problem",
    [
        ('collector_down_for = "5 minutes"', "alerts.collector_down_for: expected a Prometheus duration such as 30s or 1m, but '5 minutes' was provided"),
        ('records_stopped_after = "0s"', "alerts.records_stopped_after: expected a Prometheus duration above 0 such as 15m, but '0s' was provided"),
        ("series_budget_percent = 0", "alerts.series_budget_percent: expected a whole percentage between 1 and 100, but 0 was provided"),
        ("series_budget_percent = 101", "alerts.series_budget_percent: expected a whole percentage between 1 and 100, but 101 was provided"),
        ('runbook_url = "https://wiki.home.arpa/netviz#alerts"', "alerts.runbook_url: expected an http(s) URL without a #fragment, but 'https://wiki.home.arpa/netviz#alerts' was provided"),
        ('runbook_url = "README.md"', "alerts.runbook_url: expected an http(s) URL without a #fragment, but 'README.md' was provided"),
        ("enabled = 1", "alerts.enabled: expected true or false, but 1 was provided"),
    ],
)
def test_bad_alert_settings_are_refused_by_name(tmp_path, line, problem):
    assert problems_of(tmp_path, DEFAULT_CONFIG.read_text() + f"\n[alerts]\n{line}\n") == [problem]


@pytest.mark.parametrize(
    "line, problem",
    [
        ('rule_label = "not a key!"', "monitoring.rule_label: expected empty, or a Kubernetes label key such as release, but 'not a key!' was provided"),
        ('rule_label_value = "-x"', "monitoring.rule_label_value: expected empty, or a Kubernetes label value such as kube-prometheus-stack, but '-x' was provided"),
    ],
)
def test_bad_rule_selector_labels_are_refused_by_name(tmp_path, line, problem):
    assert problems_of(tmp_path, DEFAULT_CONFIG.read_text() + f"\n[monitoring]\n{line}\n") == [problem]


def test_rule_labels_default_to_the_pod_monitor_label(tmp_path):
    text = DEFAULT_CONFIG.read_text() + '\n[monitoring]\npod_monitor_label_value = "kps"\n'
    assert load_text(tmp_path, text).monitoring.rule_labels == {"release": "kps"}
    text += 'rule_label = "role"\nrule_label_value = "alert-rules"\n'
    assert load_text(tmp_path, text).monitoring.rule_labels == {"role": "alert-rules"}


def test_names_default_to_reverse_dns_at_the_pfsense_address(tmp_path):
    c = netviz_config.load(str(DEFAULT_CONFIG))
    assert c.names.enabled is True and c.names.dns_server == ""
    assert c.names_dns_server == c.pfsense.address == "10.0.20.1"
    c = load_text(tmp_path, DEFAULT_CONFIG.read_text() + '\n[names]\ndns_server = "192.168.1.1"\nstrip_domain = "home.arpa"\n')
    assert c.names_dns_server == "192.168.1.1" and c.names.strip_domain == "home.arpa"
    c = load_text(tmp_path, DEFAULT_CONFIG.read_text() + "\n[names]\nenabled = false\n")
    assert c.names_dns_server is None  # names off: the pod keeps the cluster's DNS


@pytest.mark.parametrize("line, problem", [
    ('dns_server = "pfsense.home.arpa"', "names.dns_server: expected empty, or an IPv4 or IPv6 address such as 10.0.20.1, but 'pfsense.home.arpa' was provided"),
    ('strip_domain = "home arpa"', "names.strip_domain: expected empty, or a DNS domain such as home.arpa, but 'home arpa' was provided"),
    ('timeout = "0s"', "names.timeout: expected a Prometheus duration above 0 such as 15m, but '0s' was provided"),
    ("queries_per_second = 0", "names.queries_per_second: expected a whole number between 1 and 1000, but 0 was provided"),
    ("workers = 17", "names.workers: expected a whole number between 1 and 16, but 17 was provided"),
    ("queue_size = 0", "names.queue_size: expected a whole number between 1 and 100000, but 0 was provided"),
    ('cache_for = "forever"', "names.cache_for: expected a Prometheus duration above 0 such as 15m, but 'forever' was provided"),
])
def test_bad_names_settings_are_refused_by_name(tmp_path, line, problem):
    assert problems_of(tmp_path, DEFAULT_CONFIG.read_text() + f"\n[names]\n{line}\n") == [problem]


# ---- values that become Kubernetes names -----------------------------------------------------


@pytest.mark.parametrize("name", ["K8s-Node-0", "node_0", "-node", "node-", "n" * 64])
def test_a_node_name_kubernetes_cannot_have_is_refused(tmp_path, name):
    # A node's name is a lower-case DNS name, also its kubernetes.io/hostname label value (<= 63).
    text = edit('{ name = "k8s-node-4"', f'{{ name = "{name}"')
    (p,) = problems_of(tmp_path, text)
    assert p == (f"kubernetes.nodes[4].name: expected a Kubernetes node name as `kubectl get nodes` shows it: "
                 "lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 63, "
                 f"but {name!r} was provided")


def test_a_dotted_node_name_is_a_node_name(tmp_path):
    text = edit('{ name = "k8s-node-4"', '{ name = "node4.home.arpa"')
    assert load_text(tmp_path, text).kubernetes.nodes[4].name == "node4.home.arpa"


@pytest.mark.parametrize("section", ["caretta", "monitoring.prometheus", "monitoring.grafana"])
def test_a_release_name_helm_refuses_is_refused(tmp_path, section):
    name = "r" * 54  # a DNS label, but Helm allows 53
    text = DEFAULT_CONFIG.read_text() + f'\n[{section}]\nrelease_name = "{name}"\n'
    (p,) = problems_of(tmp_path, text)
    assert p.startswith(f"{section}.release_name: expected a Helm release name: ")
    assert "at most 53" in p and p.endswith(f"but {name!r} was provided")
    assert load_text(tmp_path, text.replace(name, "r" * 53))


@pytest.mark.parametrize("text, problem", [
    (lambda: edit("[goflow2]\n", '[goflow2]\nnamespace = "caretta"\n'),
     "goflow2.namespace: expected a namespace other than caretta.namespace ('caretta')"),
    (lambda: DEFAULT_CONFIG.read_text() + '\n[caretta]\nnamespace = "monitoring"\n',
     "caretta.namespace: expected a namespace other than monitoring.namespace ('monitoring')"),
])
def test_two_stacks_cannot_create_one_namespace(tmp_path, text, problem):
    (p,) = problems_of(tmp_path, text())
    assert p == problem + ": each stack creates its own namespace, and Kubernetes refuses a second one of the same name"


def test_the_operator_modes_monitoring_namespace_is_not_one_netviz_creates(tmp_path):
    text = DEFAULT_CONFIG.read_text() + '\n[caretta]\nnamespace = "monitoring"\n[monitoring]\nmode = "prometheus-operator"\n'
    assert load_text(tmp_path, text).caretta.namespace == "monitoring"


@pytest.mark.parametrize("name, good", [
    ("metrics", True), ("flow-exporter", True), ("prom-metrics", True), ("a1", True),
    ("exporter-metrics", False),  # 16: the name Kubernetes refused (issue 18)
    ("Metrics", False), ("9108", False), ("-metrics", False), ("metrics-", False), ("flow--exporter", False), ("", False),
])
def test_the_port_name_check_is_kubernetes_iana_svc_name(name, good):
    assert (netviz_config.checks.port_name(name) is None) == good


def test_netflow_senders_default_to_pfsense_and_can_be_listed(tmp_path):
    assert netviz_config.load(str(DEFAULT_CONFIG)).netflow_senders == ("10.0.20.1",)
    text = edit("[goflow2]\n", '[goflow2]\nnetflow_senders = ["10.0.20.1", "10.0.30.1"]\n')
    assert load_text(tmp_path, text).netflow_senders == ("10.0.20.1", "10.0.30.1")


@pytest.mark.parametrize("senders, problem", [
    ('["10.0.20.300"]', "goflow2.netflow_senders: expected a list of IPv4 or IPv6 addresses such as [\"10.0.20.1\"] "
                        "('10.0.20.300' is not one), but ['10.0.20.300'] was provided"),
    ('["10.0.20.1", "10.0.20.1"]', "goflow2.netflow_senders[1]: expected a unique address, but '10.0.20.1' is also "
                                   "goflow2.netflow_senders[0]"),
])
def test_bad_netflow_senders_are_refused_by_name(tmp_path, senders, problem):
    assert problems_of(tmp_path, edit("[goflow2]\n", f"[goflow2]\nnetflow_senders = {senders}\n")) == [problem]


# ---- segmentation policy ------------------------------------------------------------------------

POLICY = '\n[[policy]]\nname = "home-not-to-storage"\nfrom_subnet = "home"\nto_subnet = "storage"\n'


def test_policy_rules_load_with_their_narrowing(tmp_path):
    text = DEFAULT_CONFIG.read_text() + POLICY + '\n[[policy]]\nname = "no-internet"\nfrom_subnet = "storage"\n' \
        'to_subnet = "external"\nproto = "TCP"\nport = 443\n'
    rules = load_text(tmp_path, text).policy
    assert [(r.name, r.from_subnet, r.to_subnet, r.proto, r.port) for r in rules] == [
        ("home-not-to-storage", "home", "storage", "", 0), ("no-internet", "storage", "external", "TCP", 443)]


@pytest.mark.parametrize("rule, problem", [
    (POLICY.replace('"storage"', '"iot"'),
     "policy[0].to_subnet: expected a subnet's name or external (external, home, kubernetes, storage), but 'iot' was provided"),
    (POLICY.replace('"storage"', '"home"'),
     "policy[0].to_subnet: expected another subnet than from_subnet: traffic within 'home' never crosses pfSense, "
     "so netviz never sees it"),
    (POLICY + 'proto = "tcp"\n',
     "policy[0].proto: expected empty, or one of TCP, UDP, ICMP, ICMPv6, SCTP, GRE, ESP, AH, IGMP, IPIP, OSPF, PIM, "
     "VRRP, L2TP, but 'tcp' was provided"),
    (POLICY + "port = 70000\n", "policy[0].port: expected a whole number between 0 and 65535, but 70000 was provided"),
    (POLICY + POLICY, "policy[1].name: expected a unique value, but 'home-not-to-storage' is also policy[0].name"),
])
def test_bad_policy_rules_are_refused_by_name(tmp_path, rule, problem):
    assert problems_of(tmp_path, DEFAULT_CONFIG.read_text() + rule) == [problem]


# ---- new devices and internet usage ----------------------------------------------------------------

STRANGER = '\n[[hosts]]\nname = "cloud-box"\naddress = "203.0.113.9"\n'


def test_the_internet_limits_and_the_device_windows_load(tmp_path):
    from netviz_config import checks

    c = netviz_config.load(str(DEFAULT_CONFIG))
    limits = {h.name: h.internet_volume_limit for h in c.hosts}
    assert limits["truenas"] == "500GB" and limits["proxmox"] == "0" and limits["pfsense"] == ""
    assert checks.byte_count(c.alerts.internet_volume_limit) == 50 * 10**9
    assert [checks.byte_count(v) for v in ("1.5TB", "500MiB", "0", "12")] == [15 * 10**11, 500 * 2**20, 0, 12]
    text = DEFAULT_CONFIG.read_text() + '\n[alerts]\nnew_device_lookback = "2w"\ncount_window = "3m"\n'
    alerts = load_text(tmp_path, text).alerts
    assert (checks.seconds(alerts.new_device_lookback), alerts.count_window) == (14 * 86400, "3m")


@pytest.mark.parametrize("extra, problem", [
    ('\n[alerts]\ninternet_volume_limit = "lots"\n',
     "alerts.internet_volume_limit: expected a size such as 50GB, 500MiB or 0 (none), but 'lots' was provided"),
    ('\n[alerts]\nnew_device_lookback = "7x"\n',
     "alerts.new_device_lookback: expected a Prometheus duration above 0 such as 15m, but '7x' was provided"),
    ('\n[alerts]\ncount_window = "1m"\n',
     "alerts.count_window: expected at least 4 scrape intervals (monitoring.prometheus.scrape_interval 30s: a window "
     "holds enough samples for one missed scrape), but '1m' was provided"),
    ('\n[alerts]\nnew_device_window = "1m"\n',
     "alerts.new_device_window: expected at least 4 scrape intervals (monitoring.prometheus.scrape_interval 30s: a "
     "window holds enough samples for one missed scrape), but '1m' was provided"),
    ('\n[alerts]\nnew_device_lookback = "1h"\n',
     "alerts.new_device_lookback: expected longer than alerts.new_device_window (1h: a device is new for that long), "
     "but '1h' was provided"),
    (STRANGER + 'internet_volume_limit = "1GB"\n',
     "hosts[4].internet_volume_limit: expected no limit for '203.0.113.9' (cloud-box): the flow exporter counts "
     "internet usage of addresses inside a configured subnet only, and it is in none"),
    (STRANGER + 'internet_volume_limit = "1 gig"\n',
     "hosts[4].internet_volume_limit: expected empty, or a size such as 50GB, 500MiB or 0 (none), but '1 gig' was provided"),
])
def test_bad_device_settings_are_refused_by_name(tmp_path, extra, problem):
    assert problems_of(tmp_path, DEFAULT_CONFIG.read_text() + extra) == [problem]
