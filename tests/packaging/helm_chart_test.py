#!/usr/bin/python3
"""The Helm chart, linted, rendered and read back (ctest: packaging.helm_chart).

    tests/packaging/helm_chart_test.py [--relay BINARY]

For every helm/outbox-relay/ci/*-values.yaml: `helm lint --strict`, `helm template`, then
checks on the parsed manifests: probes (GET /healthz and /readyz on the container's HTTP port, which is also http.listen in the rendered relay.yaml), ports of the
container and the Service, the securityContext, the credentials (Secret volumes and `<key>_file`
entries, or secretKeyRef variables; nothing secret in the ConfigMap; a Secret object only when
the chart is asked to create one), and the ServiceMonitor and PrometheusRule present exactly
when enabled, the rule groups being docs/alerts.yml's. Then the options a Kubernetes user
expects, each as its values ask: the startup probe, the image by tag or digest, envFrom, extra
and init containers, extra volumes, topology spread constraints (next to the default
anti-affinity), Service labels, the ServiceMonitor's relabelings, the PodMonitor, the
PodDisruptionBudget, the checksum/secrets annotation, and the init Job (Helm hooks; the
Deployment's pod parts, its own copies of the ConfigMap, ServiceAccount and created Secret,
pods no selector of the chart matches). No rendered key is an empty list or map or null: an
empty value renders nothing. With --relay, the rendered relay.yaml
must pass the relay's own validation (`outbox-relay init --print-sql`, which connects nowhere).
Each case renders under two release names: `outbox-relay`, whose Service is then named
`outbox-relay` (Kubernetes' service-link variables for it would be OUTBOX_RELAY_*, hence
`enableServiceLinks: false`), and `orders` (objects named `orders-outbox-relay`).
A values file with `mode: inbox` renders `outbox-relay inbox` instead (the init Job `init --inbox`),
its relay.yaml without the relay's slot, publication and outbox settings, and its objects with
`app.kubernetes.io/component: inbox`; --relay then validates that relay.yaml with
`init --inbox --print-sql`.
The chart README's values table documents every key of values.yaml and nothing else, with the
defaults it quotes. Then single options rendered over ci/minimal-values.yaml (PodDisruptionBudget
variants, the image digest, the startup probe off, the checksums, the init Job's credentials, the
mode switch: relay renders no inbox object, inbox a Deployment running the inbox), and values the
schema or the templates must refuse (among them inbox values without handlers).

helm comes from scripts/install-helm.sh (run by scripts/install-deps.sh). Uses Debian's
python3-yaml, hence /usr/bin/python3.
"""

import argparse
import base64
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART = os.path.join(REPO, "helm", "outbox-relay")
CI_DIR = os.path.join(CHART, "ci")
ALERTS = os.path.join(REPO, "docs", "alerts.yml")
with open(os.path.join(CHART, "Chart.yaml")) as _chart:
    CHART_APP_VERSION = str(yaml.safe_load(_chart)["appVersion"])
CONTAINER = "outbox-relay"
# The release named like the chart first: its Service is then `outbox-relay`, whose service-link
# variables would be OUTBOX_RELAY_*, the prefix of the relay's config overrides.
RELEASES = ("outbox-relay", "orders")
RELEASE = RELEASES[0]  # for the renderings expected to fail
NAMESPACE = "outbox"
CONFIG_PATH = "/etc/outbox-relay/relay.yaml"
# What `mode` runs: the main container's and the init Job's arguments.
MODE_ARGS = {"relay": ["run", "--config", CONFIG_PATH], "inbox": ["inbox", "--config", CONFIG_PATH]}
INIT_ARGS = {"relay": ["init", "--config", CONFIG_PATH], "inbox": ["init", "--inbox", "--config", CONFIG_PATH]}
# The relay-only settings of values.yaml that mode: inbox leaves out of relay.yaml.
RELAY_ONLY = (("source", "slot"), ("source", "publication"), ("outbox", None))

failures = []


def check(condition, what):
    what = " ".join(what.split())  # one line per check
    if condition:
        print(f"ok: {what}")
    else:
        print(f"FAIL: {what}")
        failures.append(what)
    return condition


def helm_binary():
    path = subprocess.run([os.path.join(REPO, "scripts", "install-helm.sh"), "--print"],
                          check=True, capture_output=True, text=True).stdout.strip()
    if not os.access(path, os.X_OK):
        sys.exit(f"FAIL: no helm at {path}: run scripts/install-deps.sh (it runs scripts/install-helm.sh)")
    return path


def fullname(release):
    """The chart's outbox-relay.fullname without overrides."""
    return release if "outbox-relay" in release else f"{release}-outbox-relay"


def run_helm(helm, *args):
    return subprocess.run([helm, *args], capture_output=True, text=True)


def merged_values(values_file):
    """The chart's values.yaml with the file's values over it, as helm merges them."""
    def merge(base, over):
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = copy.deepcopy(value)
        return base

    with open(os.path.join(CHART, "values.yaml")) as f:
        values = yaml.safe_load(f)
    if values_file:
        with open(values_file) as f:
            merge(values, yaml.safe_load(f) or {})
    return values


def env_name(key):
    return "OUTBOX_RELAY_" + key.upper().replace(".", "_").replace("-", "_")


def section_of(config, key):
    """config["kafka"], "sasl.password" for key "kafka.sasl.password"."""
    section, rest = key.split(".", 1)
    return config.get(section) or {}, rest


def is_hook(doc):
    return "helm.sh/hook" in ((doc.get("metadata") or {}).get("annotations") or {})


def selects(selector, labels):
    """A matchLabels selector matches the labels."""
    return all(labels.get(k) == v for k, v in selector.items())


def empty_keys(node, path=""):
    """Paths of the keys whose value is null, [] or {}: an empty value should render nothing."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if value is None or value == [] or value == {}:
                found.append(f"{path}.{key}")
            found += empty_keys(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += empty_keys(value, f"{path}[{index}]")
    return found


def expected_image(values):
    image = values["image"]
    if image.get("digest"):
        return f"{image['repository']}@{image['digest']}"
    return f"{image['repository']}:{image['tag'] or CHART_APP_VERSION}"


def check_rendering(name, release, values, docs, relay):
    for doc in docs:
        empty = empty_keys(doc, f"{doc['kind']}/{doc['metadata']['name']}")
        check(not empty, f"{name}: no empty keys in {doc['kind']} {doc['metadata']['name']} ({empty})")
    hooks = [d for d in docs if is_hook(d)]
    docs = [d for d in docs if not is_hook(d)]
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    for kind in ("Deployment", "ConfigMap", "Service"):
        check(len(by_kind.get(kind, [])) == 1, f"{name}: one {kind}")
    deployment = by_kind["Deployment"][0]
    configmap = by_kind["ConfigMap"][0]
    service = by_kind["Service"][0]
    pod = deployment["spec"]["template"]["spec"]
    containers = [c for c in pod["containers"] if c["name"] == CONTAINER]
    if not check(len(containers) == 1, f"{name}: container {CONTAINER}"):
        return
    container = containers[0]
    check(deployment["metadata"]["name"] == fullname(release) and service["metadata"]["name"] == fullname(release),
          f"{name}: Deployment and Service named {fullname(release)}")
    # Service links would give every pod OUTBOX_RELAY_SERVICE_HOST, OUTBOX_RELAY_PORT, ... for
    # the Service `outbox-relay`, which the relay takes for its config overrides.
    check(pod.get("enableServiceLinks") is False, f"{name}: enableServiceLinks: false")
    check(deployment["spec"]["replicas"] == values["replicas"], f"{name}: replicas {values['replicas']}")
    check(deployment["spec"]["replicas"] >= 1, f"{name}: at least one replica")
    mode = values["mode"]
    check(container["args"] == MODE_ARGS[mode], f"{name}: runs `{' '.join(MODE_ARGS[mode])}` (mode {mode})")

    # Ports: the container's named port is the relay's http.listen, and what probes and the
    # Service aim at.
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    http_port = values["http"]["port"]
    check(ports.get("http") == http_port, f"{name}: container port http = {http_port}")
    relay_config = yaml.safe_load(configmap["data"]["relay.yaml"])
    check(relay_config.get("http", {}).get("listen") == f"0.0.0.0:{http_port}",
          f"{name}: relay.yaml http.listen = 0.0.0.0:{http_port}")
    check_mode(name, values, docs, relay_config, deployment)

    def resolved(port):
        return ports.get(port) if isinstance(port, str) else port

    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path, f"{name}: {probe} GET {path} (got {get.get('path')})")
        check(resolved(get.get("port")) == http_port,
              f"{name}: {probe} on the HTTP port {http_port} (got {get.get('port')})")
    service_ports = service["spec"]["ports"]
    check(len(service_ports) == 1 and resolved(service_ports[0]["targetPort"]) == http_port
          and service_ports[0]["port"] == values["service"]["port"] and service_ports[0]["name"] == "http",
          f"{name}: Service port http -> container port {http_port}")
    check(service["spec"].get("publishNotReadyAddresses") is True,
          f"{name}: Service publishes not-ready pods (standbys are scraped)")
    selector = service["spec"]["selector"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    check(all(pod_labels.get(k) == v for k, v in selector.items()), f"{name}: Service selects the pods")

    # Security.
    pod_security = pod.get("securityContext", {})
    security = container.get("securityContext", {})
    check(pod_security.get("runAsNonRoot") is True and security.get("runAsNonRoot") is True,
          f"{name}: runAsNonRoot on pod and container")
    check(isinstance(pod_security.get("runAsUser"), int) and pod_security["runAsUser"] > 0,
          f"{name}: numeric non-root runAsUser")
    check(security.get("readOnlyRootFilesystem") is True, f"{name}: readOnlyRootFilesystem")
    check(security.get("allowPrivilegeEscalation") is False, f"{name}: no privilege escalation")
    check("ALL" in security.get("capabilities", {}).get("drop", []) and
          not security.get("capabilities", {}).get("add"), f"{name}: capabilities drop ALL, add none")
    seccomp = (security.get("seccompProfile") or pod_security.get("seccompProfile") or {}).get("type")
    check(seccomp in ("RuntimeDefault", "Localhost"),
          f"{name}: a seccomp profile (Pod Security Standard restricted), got {seccomp}")
    check(pod.get("automountServiceAccountToken") is False, f"{name}: no service account token")
    check("resources" in container and container["resources"] == values["resources"],
          f"{name}: resources from values")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    shutdown_ms = (relay_config.get("shutdown") or {}).get("timeout_ms", 30000)
    check(grace * 1000 > shutdown_ms, f"{name}: terminationGracePeriodSeconds {grace} > shutdown.timeout_ms {shutdown_ms}")
    strategy = deployment["spec"].get("strategy", {})
    check(strategy == values["strategy"], f"{name}: strategy from values")

    # Credentials.
    credentials = values["credentials"]
    refs = [dict(r) for r in credentials["refs"]]
    created = credentials["createSecret"]["enabled"]
    secret_name = f"{fullname(release)}-credentials"
    if created:
        refs += [{"key": k, "secretName": secret_name, "secretKey": k}
                 for k in sorted(credentials["createSecret"]["values"])]
    secrets = by_kind.get("Secret", [])
    if created:
        ok = len(secrets) == 1 and secrets[0]["metadata"]["name"] == secret_name
        if check(ok, f"{name}: the chart creates Secret {secret_name} (opted in)"):
            data = {k: base64.b64decode(v).decode() for k, v in secrets[0]["data"].items()}
            check(data == {k: str(v) for k, v in credentials["createSecret"]["values"].items()},
                  f"{name}: the created Secret holds createSecret.values")
    else:
        check(not secrets, f"{name}: no Secret object (not opted in)")
    configmap_text = configmap["data"]["relay.yaml"]
    for value in credentials["createSecret"].get("values", {}).values():
        check(str(value) not in configmap_text, f"{name}: no credential value in the ConfigMap")
    env = {e["name"]: e for e in container.get("env", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
    secret_mounts = {}  # secret name -> mount path
    for volume_name, volume in volumes.items():
        if "secret" in volume:
            mount = mounts.get(volume_name)
            check(mount is not None and mount.get("readOnly") is True,
                  f"{name}: Secret volume {volume_name} mounted read-only")
            if mount:
                secret_mounts[volume["secret"]["secretName"]] = mount["mountPath"]
    for ref in refs:
        key, section_rest = ref["key"], section_of(relay_config, ref["key"])
        section, rest = section_rest
        label = f"{name}: {key} from Secret {ref['secretName']}/{ref['secretKey']}"
        check(rest not in section, f"{label}: not inline in relay.yaml")
        if credentials["as"] == "file":
            expected = f"{credentials['mountPath']}/{ref['secretName']}/{ref['secretKey']}"
            check(section.get(rest + "_file") == expected, f"{label}: relay.yaml {key}_file = {expected}")
            check(secret_mounts.get(ref["secretName"]) == f"{credentials['mountPath']}/{ref['secretName']}",
                  f"{label}: the Secret is mounted at {credentials['mountPath']}/{ref['secretName']}")
            check(env_name(key) not in env, f"{label}: no variable as well")
        else:
            selector = env.get(env_name(key), {}).get("valueFrom", {}).get("secretKeyRef", {})
            check(selector == {"name": ref["secretName"], "key": ref["secretKey"]},
                  f"{label}: {env_name(key)} from secretKeyRef")
            check(rest + "_file" not in section, f"{label}: no {key}_file as well")
    if credentials["as"] == "env" or not refs:
        check(not secret_mounts, f"{name}: no Secret volumes")
    check(set(secret_mounts) == {r["secretName"] for r in refs} or credentials["as"] == "env",
          f"{name}: a Secret volume for each referenced Secret, no other")
    for variable in env.values():
        check("value" not in variable or not any(
            variable["name"] == env_name(r["key"]) for r in refs), f"{name}: {variable['name']} holds no inline credential")

    # Monitoring objects only when asked for.
    monitors = by_kind.get("ServiceMonitor", [])
    rules = by_kind.get("PrometheusRule", [])
    if values["serviceMonitor"]["enabled"]:
        if check(len(monitors) == 1, f"{name}: a ServiceMonitor (enabled)"):
            monitor = monitors[0]
            endpoint = monitor["spec"]["endpoints"][0]
            check(endpoint.get("port") == "http" and endpoint.get("path") == "/metrics",
                  f"{name}: ServiceMonitor scrapes port http, /metrics")
            check(monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items(),
                  f"{name}: ServiceMonitor selects the Service")
            for k, v in values["serviceMonitor"]["labels"].items():
                check(monitor["metadata"]["labels"].get(k) == v, f"{name}: ServiceMonitor label {k}")
    else:
        check(not monitors, f"{name}: no ServiceMonitor (disabled)")
    if values["prometheusRule"]["enabled"]:
        if check(len(rules) == 1, f"{name}: a PrometheusRule (enabled)"):
            with open(ALERTS) as f:
                expected = yaml.safe_load(f)["groups"]
            check(rules[0]["spec"]["groups"] == expected, f"{name}: PrometheusRule groups = docs/alerts.yml")
            for k, v in values["prometheusRule"]["labels"].items():
                check(rules[0]["metadata"]["labels"].get(k) == v, f"{name}: PrometheusRule label {k}")
    else:
        check(not rules, f"{name}: no PrometheusRule (disabled)")

    check_options(name, values, by_kind, deployment, container, service)
    check_init_job(name, release, values, hooks, deployment, configmap)

    if relay:
        check_relay_accepts(name, relay_config, refs, credentials["as"], relay, inbox=mode == "inbox")


def check_mode(name, values, docs, relay_config, deployment):
    """mode: inbox labels every object but the init Job's app.kubernetes.io/component: inbox
    (the selectors stay the relay's: one release runs one of them), puts config.inbox into
    relay.yaml as given and leaves the relay-only settings out; mode: relay renders no trace of
    the inbox."""
    inbox = values["mode"] == "inbox"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    labelled = [d for d in docs if not is_hook(d)] + [deployment["spec"]["template"]]
    components = {(d.get("metadata") or {}).get("labels", {}).get("app.kubernetes.io/component") for d in labelled}
    check(components == ({"inbox"} if inbox else {None}),
          f"{name}: app.kubernetes.io/component {'inbox on every object and the pods' if inbox else 'not set'}"
          f" (got {components})")
    check(set(deployment["spec"]["selector"]["matchLabels"]) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"},
          f"{name}: the Deployment's selector is name and instance, whatever the mode (selectors are immutable)")
    check(selects(deployment["spec"]["selector"]["matchLabels"], pod_labels), f"{name}: the Deployment selects its pods")
    if inbox:
        check(relay_config.get("inbox") == values["config"]["inbox"], f"{name}: relay.yaml inbox = config.inbox")
        check(relay_config.get("inbox", {}).get("handlers"), f"{name}: relay.yaml has inbox.handlers")
        for section, key in RELAY_ONLY:
            present = section in relay_config if key is None else key in (relay_config.get(section) or {})
            check(not present, f"{name}: no {section}{'.' + key if key else ''} in the inbox's relay.yaml")
        check((relay_config.get("sink") or {}).get("type", "kafka") == "kafka", f"{name}: the inbox's sink is kafka")
    else:
        check("inbox" not in relay_config, f"{name}: no inbox section in the relay's relay.yaml")
        for doc in docs:
            pod = (doc.get("spec") or {}).get("template", {}).get("spec", {})
            for container in pod.get("containers", []):
                check("--inbox" not in container.get("args", []) and (container.get("args") or [""])[0] != "inbox",
                      f"{name}: {doc['kind']} {doc['metadata']['name']} runs no inbox command")


def check_options(name, values, by_kind, deployment, container, service):
    """The options beyond the relay's own needs, each as the values ask, and nothing for an
    empty one."""
    pod = deployment["spec"]["template"]["spec"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    check(container["image"] == expected_image(values),
          f"{name}: image {expected_image(values)} (got {container['image']})")

    startup = values["probes"]["startup"]
    if startup["enabled"]:
        probe = container.get("startupProbe", {})
        check(probe.get("httpGet") == {"path": "/healthz", "port": "http"},
              f"{name}: startupProbe GET /healthz on port http (got {probe.get('httpGet')})")
        timings = {k: v for k, v in startup.items() if k != "enabled"}
        check({k: probe.get(k) for k in timings} == timings, f"{name}: startupProbe timings from values")
    else:
        check("startupProbe" not in container, f"{name}: no startupProbe (disabled)")

    for key, got in (("envFrom", container.get("envFrom")),
                     ("initContainers", pod.get("initContainers")),
                     ("extraContainers", pod["containers"][1:] or None)):
        if values[key]:
            check(got == values[key], f"{name}: {key} as given")
        else:
            check(got is None, f"{name}: no {key} (empty)")
    check(pod["containers"][0]["name"] == CONTAINER, f"{name}: the relay is the first container")
    for volume in values["extraVolumes"]:
        check(volume in pod["volumes"], f"{name}: extra volume {volume['name']} in the pod")
    for mount in values["extraVolumeMounts"]:
        check(mount in container["volumeMounts"], f"{name}: extra mount {mount['mountPath']} on the relay")
    for variable in values["extraEnv"]:
        check(variable in container.get("env", []), f"{name}: extraEnv {variable['name']} on the relay")

    constraints = pod.get("topologySpreadConstraints")
    if values["topologySpreadConstraints"]:
        given = values["topologySpreadConstraints"]
        check(constraints is not None and len(constraints) == len(given),
              f"{name}: topologySpreadConstraints, one per entry")
        for got, want in zip(constraints or [], given):
            if "labelSelector" in want:
                check(got == want, f"{name}: topology spread on {want['topologyKey']} as given")
            else:
                check(got == dict(want, labelSelector={"matchLabels": selector}),
                      f"{name}: topology spread on {want['topologyKey']} with the chart's selector labels")
    else:
        check(constraints is None, f"{name}: no topologySpreadConstraints (empty)")
    if values["replicas"] > 1 and not values["affinity"]:
        terms = (pod.get("affinity", {}).get("podAntiAffinity", {})
                 .get("preferredDuringSchedulingIgnoredDuringExecution", []))
        check(len(terms) == 1 and terms[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == selector,
              f"{name}: the preferred pod anti-affinity of replicas > 1")

    for k, v in values["service"]["labels"].items():
        check(service["metadata"]["labels"].get(k) == v, f"{name}: Service label {k}")
    check(service["spec"]["selector"] == selector, f"{name}: Service selector = the Deployment's")

    for monitor_kind, key, endpoints in (("ServiceMonitor", "serviceMonitor", "endpoints"),
                                         ("PodMonitor", "podMonitor", "podMetricsEndpoints")):
        monitors = by_kind.get(monitor_kind, [])
        if not values[key]["enabled"]:
            check(not monitors, f"{name}: no {monitor_kind} (disabled)")
            continue
        if not check(len(monitors) == 1, f"{name}: a {monitor_kind} (enabled)"):
            continue
        endpoint = monitors[0]["spec"][endpoints][0]
        for relabel in ("relabelings", "metricRelabelings"):
            if values[key][relabel]:
                check(endpoint.get(relabel) == values[key][relabel], f"{name}: {monitor_kind} {relabel} as given")
            else:
                check(relabel not in endpoint, f"{name}: no {monitor_kind} {relabel} (empty)")
        if monitor_kind == "PodMonitor":
            monitor = monitors[0]
            check(endpoint.get("port") == "http" and endpoint.get("path") == "/metrics",
                  f"{name}: PodMonitor scrapes port http, /metrics")
            check(endpoint.get("interval") == values[key]["interval"]
                  and endpoint.get("scrapeTimeout") == values[key]["scrapeTimeout"],
                  f"{name}: PodMonitor interval and scrapeTimeout from values")
            check(monitor["spec"]["selector"]["matchLabels"] == selector and selects(selector, pod_labels),
                  f"{name}: PodMonitor selects the relay's pods")
            for k, v in values[key]["labels"].items():
                check(monitor["metadata"]["labels"].get(k) == v, f"{name}: PodMonitor label {k}")

    budgets = by_kind.get("PodDisruptionBudget", [])
    pdb = values["podDisruptionBudget"]
    if not pdb["enabled"]:
        check(not budgets, f"{name}: no PodDisruptionBudget (disabled)")
    elif check(len(budgets) == 1, f"{name}: a PodDisruptionBudget (enabled)"):
        budget = budgets[0]
        check(budget["apiVersion"] == "policy/v1", f"{name}: PodDisruptionBudget policy/v1")
        check(budget["spec"]["selector"] == {"matchLabels": selector},
              f"{name}: PodDisruptionBudget selects the relay's pods")
        want = {k: pdb[k] for k in ("minAvailable", "maxUnavailable") if pdb[k] != ""} or {"maxUnavailable": 1}
        got = {k: v for k, v in budget["spec"].items() if k != "selector"}
        check(got == want, f"{name}: PodDisruptionBudget {want} (got {got})")

    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    has_secrets = bool(values["credentials"]["refs"]) or values["credentials"]["createSecret"]["enabled"]
    check(("checksum/secrets" in annotations) == has_secrets,
          f"{name}: a checksum/secrets annotation exactly when there are credentials")


HOOK_EVENTS = "pre-install,pre-upgrade"
HOOK_DELETE = "before-hook-creation,hook-succeeded"


def check_init_job(name, release, values, hooks, deployment, configmap):
    """initJob: a hook Job running `init` with the Deployment's pod parts, and hook copies of
    the objects it needs; nothing at all when disabled."""
    if not values["initJob"]["enabled"]:
        check(not hooks, f"{name}: no hook objects (initJob disabled)")
        return
    by_kind = {}
    for doc in hooks:
        by_kind.setdefault(doc["kind"], []).append(doc)
    jobs = by_kind.get("Job", [])
    if not check(len(jobs) == 1, f"{name}: one init Job (initJob enabled)"):
        return
    job = jobs[0]
    init_name = f"{fullname(release)}-init"
    check(job["metadata"]["name"] == init_name, f"{name}: Job named {init_name}")
    job_weight = int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    for doc in hooks:
        annotations = doc["metadata"]["annotations"]
        what = f"{name}: hook {doc['kind']} {doc['metadata']['name']}"
        check(annotations.get("helm.sh/hook") == HOOK_EVENTS, f"{what}: helm.sh/hook {HOOK_EVENTS}")
        check(annotations.get("helm.sh/hook-delete-policy") == HOOK_DELETE, f"{what}: deleted {HOOK_DELETE}")
        if doc is not job:
            check(int(annotations.get("helm.sh/hook-weight", 0)) < job_weight,
                  f"{what}: created before the Job (a lower hook-weight)")
    kinds = sorted(d["kind"] for d in hooks)
    want_kinds = sorted(["Job", "ConfigMap"] + (["ServiceAccount"] if values["serviceAccount"]["create"] else [])
                        + (["Secret"] if values["credentials"]["createSecret"]["enabled"] else []))
    check(kinds == want_kinds, f"{name}: hook objects {want_kinds} (got {kinds})")

    spec = job["spec"]
    check(spec.get("backoffLimit") == values["initJob"]["backoffLimit"]
          and spec.get("activeDeadlineSeconds") == values["initJob"]["activeDeadlineSeconds"],
          f"{name}: Job backoffLimit and activeDeadlineSeconds from values")
    pod = spec["template"]["spec"]
    relay_pod = deployment["spec"]["template"]["spec"]
    check(pod.get("restartPolicy") == "Never", f"{name}: Job restartPolicy Never")
    job_labels = spec["template"]["metadata"]["labels"]
    check(not selects(deployment["spec"]["selector"]["matchLabels"], job_labels),
          f"{name}: the chart's selectors do not match the Job's pod")
    if not check(len(pod["containers"]) == 1, f"{name}: the Job has one container (no extraContainers)"):
        return
    container = pod["containers"][0]
    relay = relay_pod["containers"][0]
    init_args = INIT_ARGS[values["mode"]]
    check(container["args"] == init_args, f"{name}: Job runs `{' '.join(init_args)}`")
    for key in ("image", "imagePullPolicy", "securityContext", "resources", "volumeMounts", "envFrom"):
        check(container.get(key) == relay.get(key), f"{name}: Job container {key} = the relay's")
    for key in ("securityContext", "automountServiceAccountToken", "enableServiceLinks", "imagePullSecrets",
                "nodeSelector", "tolerations", "priorityClassName", "initContainers"):
        check(pod.get(key) == relay_pod.get(key), f"{name}: Job pod {key} = the Deployment's")
    check(not any(k.endswith("Probe") or k == "ports" for k in container), f"{name}: Job container without probes or ports")

    configmaps = by_kind.get("ConfigMap", [])
    check(len(configmaps) == 1 and configmaps[0]["metadata"]["name"] == init_name
          and configmaps[0]["data"] == configmap["data"],
          f"{name}: hook ConfigMap {init_name} holds the relay's relay.yaml")
    created = f"{fullname(release)}-credentials"
    init_secret = f"{init_name}-credentials"

    def mapped(secret):
        return init_secret if values["credentials"]["createSecret"]["enabled"] and secret == created else secret

    want_volumes = []
    for volume in relay_pod["volumes"]:
        volume = copy.deepcopy(volume)
        if volume["name"] == "config":
            volume["configMap"]["name"] = init_name
        elif "secret" in volume:
            volume["secret"]["secretName"] = mapped(volume["secret"]["secretName"])
        want_volumes.append(volume)
    check(pod["volumes"] == want_volumes,
          f"{name}: Job volumes = the Deployment's, with the hook ConfigMap and Secret copies")
    if values["credentials"]["createSecret"]["enabled"]:
        secrets = by_kind.get("Secret", [])
        check(len(secrets) == 1 and secrets[0]["metadata"]["name"] == init_secret,
              f"{name}: hook Secret {init_secret} (createSecret)")
    want_account = init_name if values["serviceAccount"]["create"] else relay_pod["serviceAccountName"]
    check(pod["serviceAccountName"] == want_account, f"{name}: Job service account {want_account}")

    # The environment: the relay's, each credential of initJob.credentials replacing the
    # relay's variable for the same key.
    overrides = {env_name(r["key"]): r for r in values["initJob"]["credentials"]}
    want_env = [copy.deepcopy(e) for e in relay.get("env", []) if e["name"] not in overrides]
    for variable in want_env:
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            ref["name"] = mapped(ref["name"])
    want_env += [{"name": n, "valueFrom": {"secretKeyRef": {"name": r["secretName"], "key": r["secretKey"]}}}
                 for n, r in overrides.items()]
    got_env = container.get("env", [])
    check(sorted(got_env, key=lambda e: e["name"]) == sorted(want_env, key=lambda e: e["name"]),
          f"{name}: Job environment = the relay's, initJob.credentials replacing theirs")
    names = [e["name"] for e in got_env]
    check(len(names) == len(set(names)), f"{name}: Job variables each once ({names})")


def check_relay_accepts(name, relay_config, refs, mode, relay, inbox=False):
    """The rendered relay.yaml passes the relay's validation: `init --print-sql` (for the inbox
    `init --inbox --print-sql`) loads the config fully (exit 2 on any config error) and connects
    nowhere. Secret files and variables get stand-in values."""
    config = copy.deepcopy(relay_config)
    env = {"PATH": "/usr/bin:/bin"}
    with tempfile.TemporaryDirectory() as tmp:
        for ref in refs:
            stand_in = "host=db.invalid dbname=app user=relay" if ref["key"] == "source.dsn" else "stand-in"
            section, rest = section_of(config, ref["key"])
            if mode == "file":
                path = os.path.join(tmp, ref["secretName"] + "." + ref["secretKey"])
                with open(path, "w") as f:
                    f.write(stand_in + "\n")
                section[rest + "_file"] = path
            else:
                env[env_name(ref["key"])] = stand_in
        config_path = os.path.join(tmp, "relay.yaml")
        with open(config_path, "w") as f:
            yaml.safe_dump(config, f)
        command = [relay, "init"] + (["--inbox"] if inbox else []) + ["--print-sql", "--config", config_path]
        result = subprocess.run(command,
                                env=env, capture_output=True, text=True)
        check(result.returncode == 0,
              f"{name}: the relay accepts the rendered relay.yaml (exit {result.returncode} {result.stderr.strip()[:300]})")


def readme_values_table():
    """The rows of the chart README's table under `## Values`, as (keys, defaults) with keys the
    backticked paths of the first column, shorthands expanded (`serviceMonitor.enabled`,
    `.interval` -> serviceMonitor.interval), and defaults the second column split at ", "."""
    with open(os.path.join(CHART, "README.md")) as f:
        text = f.read()
    start = text.find("\n## Values\n")
    if start < 0:
        return []
    rows = []
    for line in text[start:].split("\n")[2:]:
        if not line.startswith("|"):
            if rows:
                break  # the end of the table
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "key" or set(cells[0]) <= set("-: "):
            continue  # header and separator
        keys = []
        for key in re.findall(r"`([^`]+)`", cells[0]):
            if key.startswith(".") and keys:
                key = keys[-1].rsplit(".", 1)[0] + key
            keys.append(key)
        rows.append((keys, [d.strip() for d in cells[1].split(", ")]))
    return rows


def check_values_table():
    """The chart README's values table against values.yaml, both ways. A key of values.yaml is
    documented when the table names it or a parent of it (`config`, `strategy` and
    `probes.liveness` cover what is below them); values.yaml is walked into a mapping the table
    does not name, so each leaf (a scalar, a list or an empty mapping) needs a row. Every key
    in the table exists in values.yaml. A default that is one backticked YAML value, one per
    key or one for all keys of its row, equals the value in values.yaml."""
    with open(os.path.join(CHART, "values.yaml")) as f:
        values = yaml.safe_load(f)
    rows = readme_values_table()
    if not check(rows, "the chart README has a `## Values` table"):
        return
    documented = [key for keys, _ in rows for key in keys]
    check(len(documented) == len(set(documented)),
          f"values table: no key twice ({sorted(k for k in set(documented) if documented.count(k) > 1)})")

    missing = object()

    def lookup(key):
        node = values
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return missing
            node = node[part]
        return node

    unknown = [key for key in documented if lookup(key) is missing]
    check(not unknown, f"values table: every key is a key of values.yaml (not: {unknown})")

    undocumented = []

    def walk(node, path):
        for name, value in node.items():
            key = f"{path}.{name}" if path else name
            if key in documented:
                continue
            if isinstance(value, dict) and value:
                walk(value, key)
            else:
                undocumented.append(key)

    walk(values, "")
    check(not undocumented, f"values table: documents every key of values.yaml (missing: {undocumented})")

    compared, wrong = 0, []
    for keys, defaults in rows:
        if len(defaults) not in (1, len(keys)):
            continue
        for index, key in enumerate(keys):
            literal = re.fullmatch(r"`([^`]*)`", defaults[0 if len(defaults) == 1 else index])
            actual = lookup(key)
            if not literal or actual is missing:
                continue
            compared += 1
            if yaml.safe_load(literal.group(1)) != actual:
                wrong.append(f"`{key}`: {literal.group(0)}, values.yaml {actual!r}")
    check(compared >= 10 and not wrong,
          f"values table: the {compared} defaults it quotes are values.yaml's (wrong: {wrong})")


def check_sidecar_snippet():
    """helm/outbox-relay/examples/sidecar.yaml, and its copies in the chart's README and
    docs/operations.md (the yaml block after a `sidecar-snippet` marker)."""
    path = os.path.join(CHART, "examples", "sidecar.yaml")
    with open(path) as f:
        snippet = f.read()
    for doc in (os.path.join(CHART, "README.md"), os.path.join(REPO, "docs", "operations.md")):
        with open(doc) as f:
            text = f.read()
        marker = "<!-- sidecar-snippet: helm/outbox-relay/examples/sidecar.yaml -->\n```yaml\n"
        start = text.find(marker)
        copy_text = text[start + len(marker): text.find("```", start + len(marker))] if start >= 0 else None
        check(copy_text == snippet, f"sidecar snippet in {os.path.relpath(doc, REPO)} = examples/sidecar.yaml")
    docs = {d["kind"]: d for d in yaml.safe_load_all(snippet) if d}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    relay = next(c for c in pod["containers"] if c["name"] == CONTAINER)
    ports = {p["name"]: p["containerPort"] for p in relay["ports"]}
    config = yaml.safe_load(docs["ConfigMap"]["data"]["relay.yaml"])
    port = int(config["http"]["listen"].rsplit(":", 1)[1])
    get = relay["livenessProbe"]["httpGet"]
    check(get["path"] == "/healthz" and ports.get(get["port"]) == port,
          "sidecar: liveness GET /healthz on the relay's http.listen port")
    check("readinessProbe" not in relay, "sidecar: no readiness probe (a standby would unready the service's pod)")
    security = relay["securityContext"]
    check(security.get("runAsNonRoot") is True and security.get("readOnlyRootFilesystem") is True
          and security.get("allowPrivilegeEscalation") is False and "ALL" in security["capabilities"]["drop"],
          "sidecar: non-root, read-only, no escalation, capabilities dropped")
    mounts = {m["mountPath"].rstrip("/") for m in relay["volumeMounts"]}
    secret_file = config["source"]["password_file"]
    check(os.path.dirname(secret_file) in mounts, f"sidecar: {secret_file} is on a mounted volume")
    check(pod["terminationGracePeriodSeconds"] * 1000 > config.get("shutdown", {}).get("timeout_ms", 30000),
          "sidecar: grace period longer than shutdown.timeout_ms")
    # The pod is the application's: its service links stay on, and the relay ignores the
    # OUTBOX_RELAY_* ones a Service named outbox-relay would add (config unit tests).
    check("enableServiceLinks" not in pod, "sidecar: the application's service links left as they are")
    return config


def render_notes(helm, release, values_file):
    """NOTES.txt as `helm install` would print it. `helm template` skips NOTES.txt and
    `helm install --dry-run` needs a cluster, so a copy of the chart renders it with tpl."""
    with tempfile.TemporaryDirectory() as tmp:
        chart = os.path.join(tmp, "outbox-relay")
        shutil.copytree(CHART, chart)
        os.makedirs(os.path.join(chart, "files"), exist_ok=True)
        shutil.copy(os.path.join(chart, "templates", "NOTES.txt"), os.path.join(chart, "files", "notes-check.txt"))
        with open(os.path.join(chart, "templates", "notes-check.yaml"), "w") as f:
            f.write('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-check\ndata:\n'
                    '  notes: |\n    {{- tpl (.Files.Get "files/notes-check.txt") . | nindent 4 }}\n')
        result = run_helm(helm, "template", release, chart, "--namespace", NAMESPACE, "-f", values_file,
                          "--show-only", "templates/notes-check.yaml")
        if result.returncode != 0:
            return None, result.stderr
        return yaml.safe_load(result.stdout)["data"]["notes"], ""


def render(helm, values_yaml, release=RELEASE, base=True):
    """The objects `helm template` renders with values_yaml over ci/minimal-values.yaml (or
    alone), by (kind, name); None when it fails."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(values_yaml)
        f.flush()
        files = (["-f", os.path.join(CI_DIR, "minimal-values.yaml")] if base else []) + ["-f", f.name]
        result = run_helm(helm, "template", release, CHART, "--namespace", NAMESPACE, *files)
    if not check(result.returncode == 0, f"renders: {values_yaml!r} {result.stderr.strip()[-300:]}"):
        return None
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(result.stdout) if d}


def check_single_options(helm):
    """Options one at a time over ci/minimal-values.yaml, where the ci/ files do not reach."""
    name = fullname(RELEASE)
    deployment_key = ("Deployment", name)

    def relay_of(objects):
        return objects[deployment_key]["spec"]["template"]["spec"]["containers"][0]

    def annotations_of(objects):
        return objects[deployment_key]["spec"]["template"]["metadata"].get("annotations", {})

    for values_yaml, want in (
            ("podDisruptionBudget: {enabled: true}\n", {"maxUnavailable": 1}),
            ("podDisruptionBudget: {enabled: true, minAvailable: 1}\n", {"minAvailable": 1}),
            ("podDisruptionBudget: {enabled: true, maxUnavailable: 0}\n", {"maxUnavailable": 0}),
            ("podDisruptionBudget: {enabled: true, maxUnavailable: \"50%\"}\n", {"maxUnavailable": "50%"})):
        objects = render(helm, values_yaml)
        if objects:
            spec = objects[("PodDisruptionBudget", name)]["spec"]
            got = {k: v for k, v in spec.items() if k != "selector"}
            check(got == want, f"PodDisruptionBudget for {values_yaml.strip()}: {want} (got {got})")

    digest = "sha256:" + "ab" * 32
    objects = render(helm, f"image: {{repository: r.example/relay, tag: '9.9', digest: '{digest}'}}\n")
    if objects:
        check(relay_of(objects)["image"] == f"r.example/relay@{digest}", "image.digest: repository@digest, tag ignored")
    objects = render(helm, "probes: {startup: {enabled: false}}\n")
    if objects:
        check("startupProbe" not in relay_of(objects), "probes.startup.enabled false: no startupProbe")

    # checksum/secrets: the created Secret counts with its values; the config checksum does not
    # change with them (nothing secret is in the config).
    checksums = []
    for password in ("one", "two"):
        objects = render(helm, "credentials:\n  createSecret:\n    enabled: true\n"
                               f"    values: {{source.password: {password}}}\n")
        if objects:
            checksums.append((annotations_of(objects).get("checksum/config"),
                              annotations_of(objects).get("checksum/secrets")))
    if len(checksums) == 2:
        check(checksums[0][0] == checksums[1][0] and None not in checksums[0] + checksums[1]
              and checksums[0][1] != checksums[1][1],
              "checksum/secrets follows credentials.createSecret.values, checksum/config does not")
    objects = render(helm, "credentials:\n  refs:\n    - {key: source.password, secretName: db, secretKey: pw}\n")
    if objects:
        check("checksum/secrets" in annotations_of(objects),
              "checksum/secrets with credentials.refs (helm template: no lookup, over empty Secrets)")

    # The init Job with credentials.as=env and the chart's Secret: its variables come from the
    # hook copy of that Secret, and initJob.credentials replaces the relay's source.password.
    objects = render(helm, "credentials:\n  as: env\n  createSecret:\n    enabled: true\n"
                           "    values: {source.password: pw, kafka.sasl.password: kpw}\n"
                           "initJob:\n  enabled: true\n  credentials:\n"
                           "    - {key: source.password, secretName: db-owner, secretKey: password}\n")
    if objects:
        job = objects[("Job", f"{name}-init")]
        variables = job["spec"]["template"]["spec"]["containers"][0]["env"]
        env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in variables}
        check(len(variables) == len(env) and env == {"OUTBOX_RELAY_SOURCE_PASSWORD": {"name": "db-owner", "key": "password"},
                      "OUTBOX_RELAY_KAFKA_SASL_PASSWORD": {"name": f"{name}-init-credentials",
                                                           "key": "kafka.sasl.password"}},
              f"init Job (as: env): initJob.credentials replace the relay's, the rest from the hook Secret copy ({env})")
        check(("Secret", f"{name}-init-credentials") in objects and ("Secret", f"{name}-credentials") in objects,
              "init Job: a hook copy of the created Secret next to the chart's")
    # File credentials: the hook copy is mounted where the chart's Secret would be, so the
    # config's source.password_file holds for both.
    objects = render(helm, "credentials:\n  createSecret:\n    enabled: true\n    values: {source.password: pw}\n"
                           "initJob:\n  enabled: true\n")
    if objects:
        job_pod = objects[("Job", f"{name}-init")]["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in job_pod["volumes"]}
        mounts = {m["name"]: m["mountPath"] for m in job_pod["containers"][0]["volumeMounts"]}
        secret_volumes = [n for n, v in volumes.items() if "secret" in v]
        check(len(secret_volumes) == 1
              and volumes[secret_volumes[0]]["secret"]["secretName"] == f"{name}-init-credentials"
              and mounts.get(secret_volumes[0]) == f"/etc/outbox-relay/secrets/{name}-credentials",
              "init Job (as: file): the hook Secret copy mounted at the chart Secret's path")
        check(objects[("ConfigMap", f"{name}-init")]["data"] == objects[("ConfigMap", name)]["data"],
              "init Job: its ConfigMap copy holds the relay's relay.yaml")
    objects = render(helm, "serviceAccount: {create: false, name: relay-sa}\ninitJob: {enabled: true}\n")
    if objects:
        check(objects[("Job", f"{name}-init")]["spec"]["template"]["spec"]["serviceAccountName"] == "relay-sa"
              and not any(kind == "ServiceAccount" for kind, _ in objects),
              "init Job: an existing ServiceAccount is used as it is, no copy")


INBOX_VALUES = """mode: inbox
config:
  inbox:
    name: seats
    handlers:
      - {topic: outbox.flight, function: seats.on_flight_event}
"""


def check_inbox_mode(helm):
    """The mode switch over ci/minimal-values.yaml: off (the default, or mode: relay) renders the
    relay and no inbox object; on, the same objects run `outbox-relay inbox`, with its replicas,
    probes and credentials from Secrets."""
    name = fullname(RELEASE)
    default = render(helm, "{}\n")
    explicit = render(helm, "mode: relay\n")
    if default and explicit:
        check(default == explicit, "mode: relay renders what the defaults render")
        containers = [c for d in default.values() for c in d.get("spec", {}).get("template", {})
                      .get("spec", {}).get("containers", [])]
        check(all(c["args"] == MODE_ARGS["relay"] for c in containers), "mode relay: every container runs the relay")
        check(not any("inbox" in yaml.safe_dump(d) for d in default.values()),
              "mode relay: no object mentions the inbox (no inbox label, section or command)")

    objects = render(helm, INBOX_VALUES + "replicas: 3\ncredentials:\n  as: env\n  refs:\n"
                           "    - {key: source.password, secretName: seats-db, secretKey: password}\n"
                           "    - {key: kafka.sasl.password, secretName: seats-kafka, secretKey: password}\n"
                           "podDisruptionBudget: {enabled: true}\ninitJob: {enabled: true}\n")
    if objects:
        deployment = objects[("Deployment", name)]
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        check(container["args"] == MODE_ARGS["inbox"], f"mode inbox: the Deployment runs {MODE_ARGS['inbox']}")
        check(deployment["spec"]["replicas"] == 3, "mode inbox: replicas 3 (members of the consumer group)")
        check(container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
              and container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
              and container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"},
              "mode inbox: startup and liveness on /healthz, readiness on /readyz, port http")
        env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in container.get("env", [])}
        check(env == {"OUTBOX_RELAY_SOURCE_PASSWORD": {"name": "seats-db", "key": "password"},
                      "OUTBOX_RELAY_KAFKA_SASL_PASSWORD": {"name": "seats-kafka", "key": "password"}},
              f"mode inbox: the passwords from secretKeyRef, none inline ({env})")
        config = yaml.safe_load(objects[("ConfigMap", name)]["data"]["relay.yaml"])
        check("password" not in config["source"] and "sasl.password" not in (config.get("kafka") or {}),
              "mode inbox: no password in relay.yaml")
        check(config["inbox"]["handlers"] == [{"topic": "outbox.flight", "function": "seats.on_flight_event"}]
              and "slot" not in config["source"] and "outbox" not in config,
              "mode inbox: relay.yaml holds the handlers, and no slot or outbox settings")
        check(pod["securityContext"]["runAsNonRoot"] is True and container["securityContext"]["readOnlyRootFilesystem"]
              and pod["terminationGracePeriodSeconds"] * 1000 > 30000,
              "mode inbox: the relay's security context, a grace period above shutdown.timeout_ms")
        budget = objects[("PodDisruptionBudget", name)]
        check(selects(budget["spec"]["selector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"]),
              "mode inbox: the PodDisruptionBudget selects the inbox's pods")
        job = objects[("Job", f"{name}-init")]["spec"]["template"]["spec"]["containers"][0]
        check(job["args"] == INIT_ARGS["inbox"], f"mode inbox: the init Job runs {INIT_ARGS['inbox']}")
    objects = render(helm, "mode: inbox\nconfig:\n  inbox:\n    partitions: [outbox.flight:0]\n"
                           "    handlers: [{topic: outbox.flight, function: on_flight}]\n")
    if objects:
        config = yaml.safe_load(objects[("ConfigMap", name)]["data"]["relay.yaml"])
        check(config["inbox"]["partitions"] == ["outbox.flight:0"],
              "mode inbox: inbox.partitions (a static assignment) with one replica")
    # The whole DSN from a Secret as a variable: once the slot and publication are left out, no
    # empty source section is left behind.
    objects = render(helm, INBOX_VALUES + "  kafka: {bootstrap.servers: kafka:9092}\ncredentials:\n  as: env\n"
                           "  refs:\n    - {key: source.dsn, secretName: seats-db, secretKey: dsn}\n",
                     release="seats", base=False)
    if objects:
        text = objects[("ConfigMap", fullname("seats"))]["data"]["relay.yaml"]
        check("source" not in yaml.safe_load(text) and not empty_keys(yaml.safe_load(text)),
              "mode inbox: with source.dsn from a variable, no (empty) source section")


def check_refused(helm, what, values_yaml, expected_text, base=True):
    """`helm template` with values_yaml over ci/minimal-values.yaml (or alone) fails, naming
    expected_text."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(values_yaml)
        f.flush()
        files = (["-f", os.path.join(CI_DIR, "minimal-values.yaml")] if base else []) + ["-f", f.name]
        result = run_helm(helm, "template", RELEASE, CHART, *files)
    output = result.stdout + result.stderr
    check(result.returncode != 0 and expected_text in output,
          f"refused: {what} (exit {result.returncode}; wanted '{expected_text}' in: {output.strip()[-300:]})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--relay", help="the outbox-relay binary, to validate the rendered relay.yaml")
    args = parser.parse_args()
    helm = helm_binary()
    print(run_helm(helm, "version", "--short").stdout.strip())

    check(os.path.islink(ALERTS) and os.path.samefile(ALERTS, os.path.join(CHART, "files", "alerts.yml")),
          "docs/alerts.yml is the chart's files/alerts.yml (one copy of the rules)")

    # The defaults lint, but render nothing: where PostgreSQL is has no sensible default.
    lint = run_helm(helm, "lint", "--strict", CHART)
    check(lint.returncode == 0, "defaults: helm lint --strict")
    check_refused(helm, "no DSN anywhere (the defaults)", "{}\n", "source.dsn is required", base=False)

    cases = sorted(
        (f[: -len("-values.yaml")], os.path.join(CI_DIR, f))
        for f in os.listdir(CI_DIR) if f.endswith("-values.yaml"))
    check(len(cases) >= 3, f"{len(cases)} values files in helm/outbox-relay/ci/")
    for name, values_file in cases:
        extra = ["-f", values_file] if values_file else []
        lint = run_helm(helm, "lint", "--strict", CHART, *extra)
        check(lint.returncode == 0, f"{name}: helm lint --strict" + ("" if lint.returncode == 0 else ":\n" + lint.stdout + lint.stderr))
        # lint turns the templates' `fail` into an [INFO] line instead of an error.
        check("Fail:" not in lint.stderr, f"{name}: no template failure while linting {lint.stderr.strip()}")
        values = merged_values(values_file)
        for release in RELEASES:
            label = f"{name} (release {release})"
            rendered = run_helm(helm, "template", release, CHART, "--namespace", NAMESPACE, *extra)
            if not check(rendered.returncode == 0,
                         f"{label}: helm template" + ("" if rendered.returncode == 0 else ": " + rendered.stderr)):
                continue
            docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
            check_rendering(label, release, values, docs, args.relay)
            notes, error = render_notes(helm, release, values_file)
            if check(notes is not None, f"{label}: NOTES.txt renders {error}"):
                inbox = values["mode"] == "inbox"
                guide = "docs/adding-an-inbox.md" if inbox else "docs/operations.md"
                check(f"svc/{fullname(release)} " in notes and guide in notes,
                      f"{label}: NOTES.txt names the Service and {guide}")
                check(("the others wait as standbys" in notes) == (values["replicas"] > 1 and not inbox),
                      f"{label}: NOTES.txt tells of standbys exactly when a relay has replicas > 1")
                check(("in inbox mode" in notes and "check --inbox" in notes) == inbox,
                      f"{label}: NOTES.txt tells of the inbox (and check --inbox) exactly in mode inbox")
                check(("The init Job" in notes) == values["initJob"]["enabled"],
                      f"{label}: NOTES.txt tells of the init Job exactly when it is enabled")

    check_values_table()
    check_single_options(helm)
    check_inbox_mode(helm)
    sidecar_config = check_sidecar_snippet()
    if args.relay:
        check_relay_accepts("sidecar", sidecar_config,
                            [{"key": "source.password", "secretName": "booking-db", "secretKey": "password"}],
                            "file", args.relay)

    # What the schema and the templates refuse.
    check_refused(helm, "replicas 0", "replicas: 0\n", "replicas")
    check_refused(helm, "credentials.as other than file/env", "credentials:\n  as: vault\n", "credentials")
    check_refused(helm, "a writable root filesystem", "securityContext:\n  readOnlyRootFilesystem: false\n",
                  "readOnlyRootFilesystem")
    check_refused(helm, "running as root", "podSecurityContext:\n  runAsNonRoot: false\n", "runAsNonRoot")
    check_refused(helm, "no seccomp profile", "podSecurityContext:\n  seccompProfile:\n    type: Unconfined\n",
                  "seccompProfile")
    check_refused(helm, "a credential that is no secret key",
                  "credentials:\n  refs:\n    - {key: source.slot, secretName: s, secretKey: k}\n", "key")
    check_refused(helm, "a credential without secretKey",
                  "credentials:\n  refs:\n    - {key: source.password, secretName: s}\n", "secretKey")
    check_refused(helm, "config.http (the chart owns http.listen)", "config:\n  http:\n    listen: 0.0.0.0:9\n",
                  "config")
    check_refused(helm, "a grace period shorter than the drain",
                  "terminationGracePeriodSeconds: 20\n", "terminationGracePeriodSeconds")
    check_refused(helm, "a password both inline and as a credential",
                  "config:\n  source:\n    password: x\ncredentials:\n  refs:\n"
                  "    - {key: source.password, secretName: s, secretKey: k}\n", "source.password")
    check_refused(helm, "an unknown sink type", "config:\n  sink:\n    type: pigeon\n", "type")
    check_refused(helm, "both minAvailable and maxUnavailable",
                  "podDisruptionBudget: {enabled: true, minAvailable: 1, maxUnavailable: 1}\n", "podDisruptionBudget")
    check_refused(helm, "a PodDisruptionBudget of -1", "podDisruptionBudget: {enabled: true, maxUnavailable: -1}\n",
                  "maxUnavailable")
    check_refused(helm, "an image digest that is no sha256 digest", "image: {digest: \"latest\"}\n", "digest")
    check_refused(helm, "an unknown key of probes.startup", "probes: {startup: {enable: true}}\n", "startup")
    check_refused(helm, "an envFrom entry without a ConfigMap or Secret", "envFrom: [{prefix: X_}]\n", "envFrom")
    check_refused(helm, "a topology spread constraint without topologyKey",
                  "topologySpreadConstraints: [{maxSkew: 1, whenUnsatisfiable: DoNotSchedule}]\n", "topologyKey")
    check_refused(helm, "an extra container without a name", "extraContainers: [{image: busybox}]\n", "name")
    check_refused(helm, "an unknown key of podMonitor", "podMonitor: {enabled: true, port: metrics}\n", "podMonitor")
    check_refused(helm, "an init Job credential that is no secret key",
                  "initJob:\n  enabled: true\n  credentials:\n    - {key: source.slot, secretName: s, secretKey: k}\n",
                  "key")
    check_refused(helm, "an init Job credential given twice",
                  "initJob:\n  enabled: true\n  credentials:\n"
                  "    - {key: source.dsn, secretName: s, secretKey: k}\n"
                  "    - {key: source.dsn, secretName: t, secretKey: k}\n", "initJob.credentials")
    # The mode switch.
    check_refused(helm, "an unknown mode", "mode: sink\n", "mode")
    check_refused(helm, "mode inbox without an inbox section", "mode: inbox\n", "inbox")
    check_refused(helm, "mode inbox without handlers", "mode: inbox\nconfig:\n  inbox: {name: seats}\n", "handlers")
    check_refused(helm, "mode inbox with no handler", "mode: inbox\nconfig:\n  inbox: {handlers: []}\n", "handlers")
    check_refused(helm, "an inbox handler without a function",
                  "mode: inbox\nconfig:\n  inbox: {handlers: [{topic: outbox.flight}]}\n", "function")
    check_refused(helm, "an inbox handler with an unknown key",
                  "mode: inbox\nconfig:\n  inbox: {handlers: [{topic: t, function: f, fn: g}]}\n", "fn")
    check_refused(helm, "an inbox handler whose topic is no Kafka topic name",
                  "mode: inbox\nconfig:\n  inbox: {handlers: [{topic: 'a b', function: f}]}\n", "topic")
    check_refused(helm, "an inbox on_poison that is no policy",
                  INBOX_VALUES + "    on_poison: ignore\n", "on_poison")
    check_refused(helm, "mode inbox with a RabbitMQ sink (the inbox consumes Kafka)",
                  INBOX_VALUES + "  sink: {type: rabbitmq}\n", "type")
    check_refused(helm, "mode inbox with the relay's PrometheusRule",
                  INBOX_VALUES + "prometheusRule: {enabled: true}\n", "prometheusRule")
    check_refused(helm, "inbox.partitions with more than one replica",
                  INBOX_VALUES + "    partitions: [outbox.flight:0]\nreplicas: 2\n", "inbox.partitions")
    check_refused(helm, "an inbox section in mode relay", INBOX_VALUES.replace("mode: inbox", "mode: relay"),
                  "mode: inbox")

    print(f"{len(failures)} failed" if failures else "helm chart: all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
