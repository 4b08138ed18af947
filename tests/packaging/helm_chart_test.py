#!/usr/bin/python3
"""The Helm chart, linted, rendered and read back (ctest: packaging.helm_chart).

    tests/packaging/helm_chart_test.py [--relay BINARY]

For every helm/outbox-relay/ci/*-values.yaml: `helm lint --strict`, `helm template`, then
checks on the parsed manifests: probes (GET /healthz and /readyz on the container's HTTP port, which is also http.listen in the rendered relay.yaml), ports of the
container and the Service, the securityContext, the credentials (Secret volumes and `<key>_file`
entries, or secretKeyRef variables; nothing secret in the ConfigMap; a Secret object only when
the chart is asked to create one), and the ServiceMonitor and PrometheusRule present exactly
when enabled, the rule groups being docs/alerts.yml's. With --relay, the rendered relay.yaml
must pass the relay's own validation (`outbox-relay init --print-sql`, which connects nowhere).
Each case renders under two release names: `outbox-relay`, whose Service is then named
`outbox-relay` (Kubernetes' service-link variables for it would be OUTBOX_RELAY_*, hence
`enableServiceLinks: false`), and `orders` (objects named `orders-outbox-relay`).
The chart README's values table documents every key of values.yaml and nothing else, with the
defaults it quotes. Then values the schema or the templates must refuse.

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
CONTAINER = "outbox-relay"
# The release named like the chart first: its Service is then `outbox-relay`, whose service-link
# variables would be OUTBOX_RELAY_*, the prefix of the relay's config overrides.
RELEASES = ("outbox-relay", "orders")
RELEASE = RELEASES[0]  # for the renderings expected to fail
NAMESPACE = "outbox"

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


def check_rendering(name, release, values, docs, relay):
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
    check(container["args"][:3] == ["run", "--config", "/etc/outbox-relay/relay.yaml"],
          f"{name}: runs `run --config /etc/outbox-relay/relay.yaml`")

    # Ports: the container's named port is the relay's http.listen, and what probes and the
    # Service aim at.
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    http_port = values["http"]["port"]
    check(ports.get("http") == http_port, f"{name}: container port http = {http_port}")
    relay_config = yaml.safe_load(configmap["data"]["relay.yaml"])
    check(relay_config.get("http", {}).get("listen") == f"0.0.0.0:{http_port}",
          f"{name}: relay.yaml http.listen = 0.0.0.0:{http_port}")

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

    if relay:
        check_relay_accepts(name, relay_config, refs, credentials["as"], relay)


def check_relay_accepts(name, relay_config, refs, mode, relay):
    """The rendered relay.yaml passes the relay's validation: `init --print-sql` loads the
    config fully (exit 2 on any config error) and connects nowhere. Secret files and variables
    get stand-in values."""
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
        result = subprocess.run([relay, "init", "--print-sql", "--config", config_path],
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
                check(f"svc/{fullname(release)} " in notes and "docs/operations.md" in notes,
                      f"{label}: NOTES.txt names the Service and docs/operations.md")
                check(("the others wait as standbys" in notes) == (values["replicas"] > 1),
                      f"{label}: NOTES.txt tells of standbys exactly when replicas > 1")

    check_values_table()
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

    print(f"{len(failures)} failed" if failures else "helm chart: all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
