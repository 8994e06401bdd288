#!/bin/bash
# The operator's views in deploy/, checked against the real agent:
#   - deploy/prometheus/tollgate-alerts.yml: promtool check and unit tests
#     (tollgate-alerts.test.yml), then loaded into a real Prometheus that
#     scrapes a real agent: every rule evaluates, the budget alert goes
#     pending on real budget figures;
#   - deploy/grafana/tollgate.json: structure (datasource variable, ids,
#     targets, layout) and Grafana's dashboard schema (npm @grafana/schema);
#     every query parses (promtool) and names only metrics and labels the
#     agent exports; each query, run by that Prometheus after real LLM calls
#     through the agent, returns data;
#   - the agent's own series on that scrape: version, start time, probe
#     health, and enforcement failures at 0 for each policy team from the
#     start (none counted for monitor mode's reported blocks);
#   - deploy/kubernetes/tollgate.yaml: the Kubernetes OpenAPI schema (npm
#     kubernetes-models: its validate(), and its TypeScript declarations,
#     compiled by typescript, which reject unknown fields); its parts agree
#     (args, ports, probes, mounts) and its policy passes `tollgate policy
#     check`.
# Each schema check also proves itself on a broken copy.
# Needs promtool and prometheus (Debian: prometheus), python3-yaml, node;
# typescript, kubernetes-models and @grafana/schema from
# tests/node/node_modules (or $TG_SCHEMA_NODE_MODULES), else the schema
# checks SKIP.  The agent checks need root and BTF (else SKIP).
#   BUILD=build bash tests/integ/test_ops.sh
. "$(dirname "$0")/lib/common.sh"
cd "$TG_TOP" || exit 1
ALERTS=$TG_TOP/deploy/prometheus/tollgate-alerts.yml
ALERT_TESTS=$TG_TOP/deploy/prometheus/tollgate-alerts.test.yml
DASH=$TG_TOP/deploy/grafana/tollgate.json
K8S=$TG_TOP/deploy/kubernetes/tollgate.yaml
OPS=$(mktemp -d /tmp/tollgate-ops.XXXXXX) || exit 1
PROM_PID=

ops_cleanup() {
	local rc=$?
	if [ -n "$PROM_PID" ]; then
		kill -TERM "$PROM_PID" 2>/dev/null
		wait "$PROM_PID" 2>/dev/null
		PROM_PID=
	fi
	[ -n "${TG_KEEP:-}" ] && echo "# kept $OPS" >&2 || rm -rf "$OPS"
	tg_teardown
	return $rc
}
trap ops_cleanup EXIT

TOOL=$OPS/ops_tool.py
cat > "$TOOL" <<'OPS_PY_EOF'
"""Helpers of tests/integ/test_ops.sh (written out by it; python3 + python3-yaml).

    ops_tool.py dash-check DASH                    structure of the Grafana dashboard
    ops_tool.py exprs DASH ALERTS OUT VAR=VALUE... every PromQL expression of the
                 dashboard (targets, label_values of the variables) and of the
                 alert rules, variables substituted, as JSON
    ops_tool.py rules EXPRS OUT                   the dashboard's expressions as recording
                                                  rules, for `promtool check rules`
    ops_tool.py exported EXPRS METRICS KIND       names and labels used vs. the scrape
    ops_tool.py query EXPRS URL KIND MAYBE_EMPTY  each expression against Prometheus
    ops_tool.py rules-health URL                  every loaded rule evaluated without error
    ops_tool.py alerts URL ALERTNAME LABEL=VALUE  an alert pending or firing with those labels
    ops_tool.py dash-break DASH OUT               a broken copy of the dashboard
    ops_tool.py k8s-json MANIFEST OUT             the manifest's documents as a JSON array
    ops_tool.py k8s-break JSON OUT_TYPE OUT_FIELD two broken copies of the DaemonSet
    ops_tool.py k8s-consistency JSON POLICY_OUT   args, ports, probes and mounts agree
"""
import json
import re
import sys
import urllib.parse
import urllib.request

# --- PromQL scanning -----------------------------------------------------------------------

KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2", "start", "end"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:ms|[smhdwy])*")
MATCHER = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*")


class PromQLError(Exception):
    pass


def read_string(s, i):
    q = s[i]
    j = i + 1
    while j < len(s):
        if s[j] == "\\" and q != "`":
            j += 2
            continue
        if s[j] == q:
            return j + 1
        j += 1
    raise PromQLError("unterminated string at %d" % i)


def read_matchers(s, i):
    """s[i] == '{': returns (labels, index after '}')."""
    labels = []
    j = i + 1
    while True:
        while j < len(s) and s[j] in " \t\n,":
            j += 1
        if j >= len(s):
            raise PromQLError("unterminated selector at %d" % i)
        if s[j] == "}":
            return labels, j + 1
        m = MATCHER.match(s, j)
        if not m:
            raise PromQLError("bad label matcher at %d: %r" % (j, s[j:j + 20]))
        labels.append(m.group(1))
        j = m.end()
        if j >= len(s) or s[j] not in "\"'`":
            raise PromQLError("label value is not a string at %d" % j)
        j = read_string(s, j)


def tokens(s):
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c.isspace():
            i += 1
        elif c == "#":
            while i < len(s) and s[i] != "\n":
                i += 1
        elif c in "\"'`":
            i = read_string(s, i)
            out.append(("str", None))
        elif c == "[":
            j = s.find("]", i)
            if j < 0:
                raise PromQLError("unterminated range at %d" % i)
            out.append(("range", s[i + 1:j]))
            i = j + 1
        elif c == "{":
            labels, i = read_matchers(s, i)
            out.append(("sel", labels))
        elif c.isdigit() or (c == "." and i + 1 < len(s) and s[i + 1].isdigit()):
            m = NUMBER.match(s, i)
            out.append(("num", m.group(0)))
            i = m.end()
        elif c.isalpha() or c in "_:":
            m = IDENT.match(s, i)
            out.append(("id", m.group(0)))
            i = m.end()
        else:
            out.append(("op", c))
            i += 1
    return out


def analyse(expr):
    """{'metrics': {name: set(labels in its matchers)}, 'grouping': set(labels)}"""
    toks = tokens(expr)
    metrics, grouping = {}, set()
    i = 0
    while i < len(toks):
        kind, v = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else (None, None)
        if kind == "id" and v in GROUPING:
            i += 1
            if nxt == ("op", "("):
                i += 1
                while i < len(toks) and toks[i] != ("op", ")"):
                    if toks[i][0] == "id":
                        grouping.add(toks[i][1])
                    i += 1
                i += 1
            continue
        if kind == "id" and v not in KEYWORDS and v not in AGGREGATIONS and nxt != ("op", "("):
            labels = metrics.setdefault(v, set())
            if nxt[0] == "sel":
                labels.update(nxt[1])
                i += 1
        elif kind == "sel":
            raise PromQLError("a selector without a metric name")
        i += 1
    return {"metrics": metrics, "grouping": grouping}


# --- the dashboard -----------------------------------------------------------------------------

def var_query(v):
    """A query variable's query: a string, or {"query": ...} (Grafana 10+)."""
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query")
    return q or v.get("definition") or ""


def all_panels(dash):
    for p in dash.get("panels", []):
        yield p
        for q in p.get("panels", []) or []:
            yield q


def dash_check(path):
    problems = []
    with open(path) as f:
        dash = json.load(f)
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        problems.append("schemaVersion %r < 36" % dash.get("schemaVersion"))
    for key in ("uid", "title"):
        if not dash.get(key):
            problems.append("no %s" % key)
    tvars = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = tvars.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no datasource variable of type datasource/prometheus")
    for name in ("team", "model"):
        v = tvars.get(name)
        q = v and var_query(v)
        if not v or v.get("type") != "query" or not re.match(
                r"label_values\(\s*tollgate_[a-z_]+(\{[^}]*\})?\s*,\s*%s\s*\)$" % name, q or ""):
            problems.append("variable %s: not label_values(tollgate_..., %s)" % (name, name))
        elif v.get("datasource", {}).get("uid") not in ("${datasource}", "$datasource"):
            problems.append("variable %s: datasource is not ${datasource}" % name)
    ids, boxes = {}, []
    n = 0
    for p in all_panels(dash):
        pid = p.get("id")
        where = "panel %r (%s)" % (p.get("title"), pid)
        if not isinstance(pid, int):
            problems.append(where + ": no integer id")
        elif pid in ids:
            problems.append(where + ": id also used by %r" % ids[pid])
        else:
            ids[pid] = p.get("title")
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in "xywh") or g["x"] + g["w"] > 24:
            problems.append(where + ": bad gridPos %r" % g)
        else:
            for other, og in boxes:
                if (g["x"] < og["x"] + og["w"] and og["x"] < g["x"] + g["w"] and
                        g["y"] < og["y"] + og["h"] and og["y"] < g["y"] + g["h"]):
                    problems.append(where + ": overlaps %r" % other)
            boxes.append((p.get("title"), g))
        if p.get("type") == "row":
            continue
        n += 1
        if (p.get("datasource") or {}).get("uid") not in ("${datasource}", "$datasource"):
            problems.append(where + ": datasource is not ${datasource}")
        targets = p.get("targets") or []
        if not targets:
            problems.append(where + ": no targets")
        refs = set()
        for t in targets:
            if not (t.get("expr") or "").strip():
                problems.append(where + ": target %s has no expr" % t.get("refId"))
            if t.get("refId") in refs or not t.get("refId"):
                problems.append(where + ": refId %r missing or repeated" % t.get("refId"))
            refs.add(t.get("refId"))
            tds = t.get("datasource")
            if tds and tds.get("uid") not in ("${datasource}", "$datasource"):
                problems.append(where + ": target %s datasource is not ${datasource}" % t.get("refId"))
    if n == 0:
        problems.append("no panels")
    return problems, n


def dash_break(path, out):
    """An unknown panel field, and in another panel a grid width as a string
    (typescript reports an object's excess properties only when its types
    are right)."""
    with open(path) as f:
        dash = json.load(f)
    p, q = [p for p in all_panels(dash) if p.get("type") != "row"][:2]
    p["datasourse"] = p.get("datasource")
    q["gridPos"]["w"] = str(q["gridPos"]["w"])
    with open(out, "w") as f:
        json.dump(dash, f, indent=1)


def substitute(expr, values):
    def rep(m):
        name = m.group(1) or m.group(2)
        if name not in values:
            raise PromQLError("unknown variable $%s" % name)
        return values[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", rep, expr)


def exprs(dash_path, alerts_path, out, assigns):
    import yaml
    values = dict(a.split("=", 1) for a in assigns)
    with open(dash_path) as f:
        dash = json.load(f)
    res = []
    for v in dash.get("templating", {}).get("list", []):
        q = var_query(v)
        m = re.match(r"label_values\((.*),\s*(\w+)\s*\)$", q)
        if v.get("type") == "query" and m:
            res.append({"source": "dashboard", "where": "variable %s" % v["name"],
                        "expr": substitute(m.group(1), values), "label": m.group(2)})
    for p in all_panels(dash):
        for t in p.get("targets", []) or []:
            if t.get("expr"):
                res.append({"source": "dashboard", "id": p.get("id"), "ref": t.get("refId"),
                            "where": "panel %r %s" % (p.get("title"), t.get("refId")),
                            "expr": substitute(t["expr"], values)})
    if alerts_path:
        with open(alerts_path) as f:
            rules = yaml.safe_load(f)
        for g in rules["groups"]:
            for r in g["rules"]:
                text = " ".join(str(x) for x in (r.get("annotations") or {}).values())
                res.append({"source": "alerts", "where": "rule %s" % (r.get("alert") or r.get("record")),
                            "expr": r["expr"],
                            "template_labels": sorted(set(re.findall(r"\$labels\.(\w+)", text)))})
    with open(out, "w") as f:
        json.dump(res, f, indent=1)


def rules(exprs_path, out):
    with open(exprs_path) as f:
        es = [e for e in json.load(f) if e["source"] == "dashboard"]
    rs = []
    for k, e in enumerate(es):
        rs.append({"record": "tollgate_dashboard:q%d" % k, "expr": e["expr"]})
    with open(out, "w") as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rs}]}, f, indent=1)


# --- against the agent's scrape -----------------------------------------------------------------

SCRAPE_LABELS = {"job", "instance"}
SYNTHETIC = {"up": set()}       # made by Prometheus for each target, not by the agent


def exposition(path):
    """{sample name: set(label names)} of a text exposition."""
    names = {}
    with open(path) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            m = IDENT.match(line)
            labels = names.setdefault(m.group(0), set())
            rest = line[m.end():]
            if rest.startswith("{"):
                labels.update(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="(?:[^"\\]|\\.)*"',
                                         rest[:rest.rindex("}") + 1]))
    return names


def exported(exprs_path, metrics_path, source):
    with open(exprs_path) as f:
        es = [e for e in json.load(f) if e["source"] == source]
    have = exposition(metrics_path)
    have.update(SYNTHETIC)
    problems, used = [], set()
    for e in es:
        try:
            a = analyse(e["expr"])
        except PromQLError as err:
            problems.append("%s: %s" % (e["where"], err))
            continue
        if not a["metrics"]:
            problems.append("%s: no metric in %r" % (e["where"], e["expr"]))
        known = set(SCRAPE_LABELS) | {"le"}
        for name, labels in a["metrics"].items():
            used.add(name)
            if name not in have:
                problems.append("%s: %s is not exported" % (e["where"], name))
                continue
            known |= have[name]
            extra = labels - have[name] - SCRAPE_LABELS
            if extra:
                problems.append("%s: %s has no label %s" % (e["where"], name, ", ".join(sorted(extra))))
        for l in sorted(set(a["grouping"]) | set(e.get("template_labels", [])) |
                        ({e["label"]} if e.get("label") else set())):
            if l not in known:
                problems.append("%s: label %s is on none of %s" % (e["where"], l, ", ".join(sorted(a["metrics"]))))
    return problems, used


# --- against a Prometheus server --------------------------------------------------------------------

def api(url, path, **params):
    q = urllib.parse.urlencode(params)
    with urllib.request.urlopen("%s%s?%s" % (url, path, q), timeout=10) as r:
        return json.load(r)


def query(exprs_path, url, source, maybe_empty):
    with open(exprs_path) as f:
        es = [e for e in json.load(f) if e["source"] == source]
    may = re.compile(maybe_empty) if maybe_empty else None
    problems, n_data = [], 0
    for e in es:
        expr = e["expr"]
        if e.get("label"):             # label_values(selector, label)
            expr = "count by (%s) (%s)" % (e["label"], expr)
        try:
            r = api(url, "/api/v1/query", query=expr)
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace")
            problems.append("%s: HTTP %d %s" % (e["where"], err.code, body[:200]))
            continue
        if r.get("status") != "success":
            problems.append("%s: %s" % (e["where"], r.get("error")))
        elif not r["data"]["result"]:
            if not (may and may.search(e["expr"])):
                problems.append("%s: no data for %s" % (e["where"], expr))
        else:
            n_data += 1
    return problems, n_data, len(es)


def rules_health(url):
    r = api(url, "/api/v1/rules")
    problems, n = [], 0
    for g in r["data"]["groups"]:
        for rule in g["rules"]:
            n += 1
            if rule.get("health") != "ok" or rule.get("lastError"):
                problems.append("%s: health %s %s" % (rule["name"], rule.get("health"), rule.get("lastError", "")))
    return problems, n


def alert_state(url, name, assigns):
    want = dict(a.split("=", 1) for a in assigns)
    r = api(url, "/api/v1/alerts")
    for a in r["data"]["alerts"]:
        if a["labels"].get("alertname") == name and all(a["labels"].get(k) == v for k, v in want.items()):
            return a["state"]
    return None


# --- the Kubernetes manifest -------------------------------------------------------------------------------

def k8s_json(manifest, out):
    import yaml
    with open(manifest) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    with open(out, "w") as f:
        json.dump(docs, f)


def k8s_break(path, out_type, out_field):
    import copy
    with open(path) as f:
        docs = json.load(f)
    for out, how in ((out_type, "type"), (out_field, "field")):
        d2 = copy.deepcopy(docs)
        for d in d2:
            if d.get("kind") == "DaemonSet":
                spec = d["spec"]["template"]["spec"]
                if how == "type":
                    spec["hostPID"] = "yes"
                else:
                    spec["hostPid"] = True          # a misspelt field
        with open(out, "w") as f:
            json.dump(d2, f)


def k8s_consistency(path, policy_out):
    with open(path) as f:
        docs = json.load(f)
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    problems = []
    need = ("Namespace", "ConfigMap", "ServiceAccount", "DaemonSet")
    for k in need:
        if k not in by_kind:
            problems.append("no %s" % k)
    if problems:
        return problems
    ns = by_kind["Namespace"][0]["metadata"]["name"]
    for d in docs:
        if d["kind"] != "Namespace" and d["metadata"].get("namespace") != ns:
            problems.append("%s %s is not in namespace %s" % (d["kind"], d["metadata"]["name"], ns))
    ds = by_kind["DaemonSet"][0]
    spec = ds["spec"]["template"]["spec"]
    sel = ds["spec"]["selector"]["matchLabels"]
    labels = ds["spec"]["template"]["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in sel.items()):
        problems.append("the DaemonSet's selector does not match its pod labels")
    if spec.get("hostPID") is not True:
        problems.append("hostPID is not true")
    if spec.get("serviceAccountName") not in [s["metadata"]["name"] for s in by_kind["ServiceAccount"]]:
        problems.append("serviceAccountName is not the ServiceAccount")
    if not any(t.get("operator") == "Exists" and not t.get("key") for t in spec.get("tolerations", [])):
        problems.append("no toleration of every taint")
    c = spec["containers"][0]
    args = c.get("args", [])
    sc = c.get("securityContext", {})
    if not sc.get("privileged") and not set(["BPF", "PERFMON", "SYS_ADMIN", "SYS_PTRACE"]) <= \
            set((sc.get("capabilities") or {}).get("add", [])):
        problems.append("neither privileged nor the BPF capabilities")

    def arg(name):
        return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None
    if not args or args[0] != "run":
        problems.append("args do not start with run")
    policy = arg("--policy")
    metrics = arg("--metrics")
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    for m in mounts.values():
        if m["name"] not in vols:
            problems.append("mount %s: no volume %s" % (m["mountPath"], m["name"]))
    # the policy file is a key of the ConfigMap mounted at its directory
    pdir, _, pkey = (policy or "").rpartition("/")
    cm = None
    if pdir not in mounts:
        problems.append("--policy %s: nothing is mounted at %s" % (policy, pdir))
    else:
        v = vols.get(mounts[pdir]["name"], {})
        cmname = (v.get("configMap") or {}).get("name")
        cm = next((d for d in by_kind["ConfigMap"] if d["metadata"]["name"] == cmname), None)
        if not cm or pkey not in cm.get("data", {}):
            problems.append("--policy %s: ConfigMap %s has no key %s" % (policy, cmname, pkey))
    if cm and pkey in cm.get("data", {}):
        with open(policy_out, "w") as f:
            f.write(cm["data"][pkey])
    # host paths the agent uses
    for path, want in (("/sys/kernel/btf", "/sys/kernel/btf"), ("/sys/fs/cgroup", "/sys/fs/cgroup"),
                       ("/var/lib/tollgate", "/var/lib/tollgate"), ("/run/tollgate", "/run/tollgate"),
                       ("/sys/kernel/tracing", "/sys/kernel/tracing")):
        m = mounts.get(path)
        hp = m and (vols.get(m["name"], {}).get("hostPath") or {}).get("path")
        if hp != want:
            problems.append("%s is not the host's %s" % (path, want))
    if mounts.get("/sys/fs/cgroup", {}).get("readOnly"):
        problems.append("/sys/fs/cgroup is read-only: kill_scope cgroup writes cgroup.kill")
    db = arg("--db")
    if db and not db.startswith("/var/lib/tollgate/"):
        problems.append("--db %s is not on the host's /var/lib/tollgate" % db)
    # metrics: a port the pod exposes, which the probes and the Service use
    port = int(metrics.rsplit(":", 1)[1]) if metrics else None
    host = metrics.rsplit(":", 1)[0] if metrics else None
    cports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    if port not in cports.values():
        problems.append("--metrics %s: port not among the container's ports" % metrics)
    if host in ("127.0.0.1", "localhost", "[::1]", ""):
        problems.append("--metrics %s: loopback, the probes and Prometheus cannot reach it" % metrics)
    for pr in ("readinessProbe", "livenessProbe"):
        g = (c.get(pr) or {}).get("httpGet") or {}
        p = cports.get(g.get("port"), g.get("port"))
        if g.get("path") != "/metrics" or p != port:
            problems.append("%s is not GET /metrics on port %s" % (pr, port))
    for svc in by_kind.get("Service", []):
        if any(labels.get(k) != v for k, v in svc["spec"]["selector"].items()):
            problems.append("Service %s selects no agent pod" % svc["metadata"]["name"])
        for sp in svc["spec"]["ports"]:
            tp = sp.get("targetPort", sp["port"])
            if cports.get(tp, tp) != port:
                problems.append("Service %s port %s is not the metrics port" % (svc["metadata"]["name"], tp))
    return problems


def main(argv):
    cmd = argv[1]
    if cmd == "dash-check":
        problems, n = dash_check(argv[2])
        for p in problems:
            print(p)
        if not problems:
            print("%d panels" % n)
        return 1 if problems else 0
    if cmd == "dash-break":
        dash_break(argv[2], argv[3])
        return 0
    if cmd == "exprs":
        try:
            exprs(argv[2], argv[3] if argv[3] != "-" else None, argv[4], argv[5:])
        except PromQLError as e:
            print(e)
            return 1
        return 0
    if cmd == "rules":
        rules(argv[2], argv[3])
        return 0
    if cmd == "exported":
        problems, used = exported(argv[2], argv[3], argv[4])
        for p in problems:
            print(p)
        if not problems:
            print("%d metric names" % len(used))
        return 1 if problems else 0
    if cmd == "query":
        problems, n_data, n = query(argv[2], argv[3], argv[4], argv[5] if len(argv) > 5 else "")
        for p in problems:
            print(p)
        if not problems:
            print("%d queries, %d with data" % (n, n_data))
        return 1 if problems else 0
    if cmd == "rules-health":
        problems, n = rules_health(argv[2])
        for p in problems:
            print(p)
        if not problems:
            print("%d rules" % n)
        return 1 if problems or not n else 0
    if cmd == "alerts":
        print(alert_state(argv[2], argv[3], argv[4:]) or "")
        return 0
    if cmd == "k8s-json":
        k8s_json(argv[2], argv[3])
        return 0
    if cmd == "k8s-break":
        k8s_break(argv[2], argv[3], argv[4])
        return 0
    if cmd == "k8s-consistency":
        problems = k8s_consistency(argv[2], argv[3])
        for p in problems:
            print(p)
        return 1 if problems else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
OPS_PY_EOF
cat > "$OPS/schema_check.js" <<'OPS_JS_EOF'
// Checks documents against published schemas, with the npm packages in
// $TG_SCHEMA_NODE_MODULES:
//   schema_check.js k8s FILE      FILE: a JSON array of Kubernetes objects.
//       kubernetes-models: each object's validate() (the Kubernetes OpenAPI
//       schema: types, required fields, enums, formats), and the same
//       package's TypeScript declarations, compiled with typescript, which
//       reject unknown fields at any depth (excess property checks).
//   schema_check.js grafana FILE  FILE: a Grafana dashboard (JSON).
//       @grafana/schema's dashboard model (the JSON model of schemaVersion
//       36+), compiled the same way; its enums are read as their string
//       values, as they are written in JSON.
// Prints one line per problem; exits 1 if there is any, 2 if it cannot run.
'use strict';
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');
const { createRequire } = require('module');

const NM = process.env.TG_SCHEMA_NODE_MODULES;
const req = createRequire(path.join(NM, 'noop.js'));
const ts = req('typescript');
const KM = path.join(NM, 'kubernetes-models');
const GRAFANA = path.join(NM, '@grafana/schema/dist/types/raw/dashboard/x/types.gen');
// String enums as the string literals JSON holds, deeply.
const DEENUM = 'type D<T> = T extends string ? `${T}` : T extends number | boolean | null | ' +
	'undefined ? T : T extends Array<infer U> ? Array<D<U>> : T extends object ? ' +
	'{ [K in keyof T]: D<T[K]> } : T;\n';

function modpath(p) {
	return JSON.stringify(p.split(path.sep).join('/'));
}

/* Type-checks src (a module of `export const docN: T = {...}` lines). */
function typecheck(src, errors) {
	const file = path.join(NM, '..', '__tollgate_schema_check.ts');
	const opts = { strict: true, noEmit: true, skipLibCheck: true, types: [],
		       target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext,
		       moduleResolution: ts.ModuleResolutionKind.Bundler, lib: ['lib.es2022.d.ts'] };
	const host = ts.createCompilerHost(opts);
	const getSourceFile = host.getSourceFile.bind(host);
	const fileExists = host.fileExists.bind(host);
	const readFile = host.readFile.bind(host);
	host.getSourceFile = (f, lang, ...rest) => f === file ?
		ts.createSourceFile(f, src, lang) : getSourceFile(f, lang, ...rest);
	host.fileExists = (f) => f === file || fileExists(f);
	host.readFile = (f) => f === file ? src : readFile(f);
	const program = ts.createProgram([file], opts, host);
	const lines = src.split('\n');
	for (const dg of ts.getPreEmitDiagnostics(program)) {
		const msg = ts.flattenDiagnosticMessageText(dg.messageText, '\n  ')
			.replace(/in type '\{.{200,}?'\./s, 'in its type.');
		if (dg.file && dg.file.fileName === file) {
			const { line } = dg.file.getLineAndCharacterOfPosition(dg.start);
			let doc = line;
			while (doc > 0 && !lines[doc].startsWith('export const doc'))
				doc--;
			const n = /^export const doc(\d+)/.exec(lines[doc]);
			errors.push(`document ${n ? Number(n[1]) + 1 : '?'}: '${lines[line].trim()}': ${msg}`);
		} else {
			errors.push(`typescript: ${msg}`);
		}
	}
}

async function k8sModel(dir, kind) {
	const base = path.join(KM, dir, kind);
	try {
		return req(base)[kind];
	} catch (e) {
		if (e.code !== 'ERR_REQUIRE_ESM')
			throw e;
	}
	return (await import(pathToFileURL(base + '.js').href))[kind];
}

async function k8s(docs, errors) {
	let src = '';
	for (const [i, d] of docs.entries()) {
		const where = `document ${i + 1} (${d && d.kind}/${d && d.metadata && d.metadata.name})`;
		if (!d || typeof d !== 'object' || typeof d.apiVersion !== 'string' ||
		    typeof d.kind !== 'string' || !/^[A-Za-z]+$/.test(d.kind)) {
			errors.push(`${where}: no apiVersion or kind`);
			continue;
		}
		/* "v1", "apps/v1", "rbac.authorization.k8s.io/v1" are its directories */
		const dir = d.apiVersion;
		if (!/^[a-z0-9.]+(\/[a-z0-9]+)?$/.test(dir) ||
		    !fs.existsSync(path.join(KM, dir, d.kind + '.d.ts'))) {
			errors.push(`${where}: unknown apiVersion/kind ${dir} ${d.kind}`);
			continue;
		}
		try {
			const M = await k8sModel(dir, d.kind);
			new M(d).validate();
		} catch (e) {
			errors.push(`${where}: ${e.message}`);
		}
		src += `import type { I${d.kind} as T${i} } from ${modpath(path.join(KM, dir, d.kind))};\n` +
		       `export const doc${i}: T${i} = ${JSON.stringify(d, null, 1)};\n`;
	}
	typecheck(src, errors);
}

function grafana(dash, errors) {
	if (!fs.existsSync(GRAFANA + '.d.ts')) {
		errors.push(`no ${GRAFANA}.d.ts`);
		return;
	}
	typecheck(`import type { Dashboard } from ${modpath(GRAFANA)};\n${DEENUM}` +
		  `export const doc0: D<Dashboard> = ${JSON.stringify(dash, null, 1)};\n`, errors);
}

(async () => {
	const errors = [];
	const data = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
	if (process.argv[2] === 'k8s')
		await k8s(data, errors);
	else if (process.argv[2] === 'grafana')
		grafana(data, errors);
	else
		throw new Error('usage: schema_check.js k8s|grafana FILE');
	for (const e of errors)
		console.log(e);
	process.exit(errors.length ? 1 : 0);
})().catch((e) => {
	console.log(`schema_check: ${e.stack || e}`);
	process.exit(2);
});
OPS_JS_EOF
tool() { "$TG_PY" "$TOOL" "$@"; }
oneline() { tr '\n' ';' | sed 's/;$//' | head -c 1500; }

have_promtool=1
command -v promtool > /dev/null || have_promtool=
have_yaml=1
"$TG_PY" -c 'import yaml' 2> /dev/null || have_yaml=

# --- alerts: promtool ------------------------------------------------------------------
if [ -z "$have_promtool" ]; then
	skip alerts_promtool_check "promtool not installed (Debian package prometheus)"
	skip alerts_promtool_test "promtool not installed (Debian package prometheus)"
else
	if out=$(promtool check rules "$ALERTS" 2>&1) && grep -q SUCCESS <<<"$out"; then
		pass alerts_promtool_check
	else
		fail alerts_promtool_check "$(oneline <<<"$out")"
	fi
	if out=$(cd "$(dirname "$ALERT_TESTS")" && promtool test rules "$(basename "$ALERT_TESTS")" 2>&1) &&
		grep -q SUCCESS <<<"$out"; then
		pass alerts_promtool_test
	else
		fail alerts_promtool_test "$(oneline <<<"$out")"
	fi
fi

# --- schemas: kubernetes-models, @grafana/schema and typescript from npm ---------------------------
SCHEMA_NM=
for d in "${TG_SCHEMA_NODE_MODULES:-}" "$TG_TOP/tests/node/node_modules"; do
	if [ -n "$d" ] && [ -d "$d/typescript" ]; then
		SCHEMA_NM=$d
		break
	fi
done
# schema KIND FILE: the problems, exit 1 if any
schema() { TG_SCHEMA_NODE_MODULES=$SCHEMA_NM "$TG_NODE" "$OPS/schema_check.js" "$@" 2>&1; }
# schema_ok NAME PACKAGE KIND FILE [BAD_NAME BAD_FILE EXPECT_RE...]: FILE
# passes; BAD_FILE fails with every EXPECT_RE among its problems
schema_ok() {
	local name=$1 pkg=$2 kind=$3 file=$4 bad_name=$5 bad=$6 out rc re miss=; shift 6
	if [ -z "$SCHEMA_NM" ] || [ ! -d "$SCHEMA_NM/$pkg" ] || [ ! -x "$TG_NODE" ]; then
		skip "$name" "npm packages $pkg and typescript are not in tests/node/node_modules"
		skip "$bad_name" "npm packages $pkg and typescript are not in tests/node/node_modules"
		return
	fi
	if out=$(schema "$kind" "$file"); then
		pass "$name"
	else
		fail "$name" "$(oneline <<<"$out")"
	fi
	out=$(schema "$kind" "$bad")
	rc=$?
	for re in "$@"; do
		grep -qE -- "$re" <<<"$out" || miss="$miss '$re'"
	done
	if [ "$rc" = 1 ] && [ -z "$miss" ]; then
		pass "$bad_name"
	else
		fail "$bad_name" "exit $rc, missing$miss: $(oneline <<<"$out")"
	fi
}

# --- dashboard: structure, schema, and its queries parse ---------------------------------------------
if out=$(tool dash-check "$DASH" 2>&1); then
	pass dashboard_json
else
	fail dashboard_json "$(oneline <<<"$out")"
fi
tool dash-break "$DASH" "$OPS/dashboard-bad.json"
schema_ok dashboard_schema @grafana/schema grafana "$DASH" \
	dashboard_schema_rejects_bad "$OPS/dashboard-bad.json" \
	"'\"datasourse\"' does not exist" "'\"w\": \"[0-9]+\",': Type 'string' is not assignable to type 'number'"
# Grafana's variables as they are with "All" selected ($team: .*), its
# intervals as Grafana would set them
STATIC_VARS=(job=tollgate 'instance=.*' 'team=.*' 'model=.*' __rate_interval=1m __range=6h __interval=15s)
if [ -z "$have_yaml" ]; then
	skip dashboard_queries_parse "python3-yaml is not installed"
elif [ -z "$have_promtool" ]; then
	skip dashboard_queries_parse "promtool not installed (Debian package prometheus)"
elif ! out=$(tool exprs "$DASH" "$ALERTS" "$OPS/exprs-static.json" "${STATIC_VARS[@]}" 2>&1); then
	fail dashboard_queries_parse "$(oneline <<<"$out")"
else
	tool rules "$OPS/exprs-static.json" "$OPS/dashboard-rules.json"
	if out=$(promtool check rules "$OPS/dashboard-rules.json" 2>&1) && grep -q SUCCESS <<<"$out"; then
		pass dashboard_queries_parse
	else
		fail dashboard_queries_parse "$(oneline <<<"$out")"
	fi
fi

# --- Kubernetes: schema, broken copies, consistency, policy --------------------------------------
if [ -z "$have_yaml" ]; then
	for n in k8s_schema k8s_schema_rejects_bad k8s_consistency k8s_policy_valid k8s_readme_policy_valid; do
		skip $n "python3-yaml is not installed"
	done
else
	tool k8s-json "$K8S" "$OPS/k8s.json"
	# a wrong type (hostPID: "yes") and an unknown field (hostPid) must each fail
	tool k8s-break "$OPS/k8s.json" "$OPS/k8s-bad-type.json" "$OPS/k8s-bad-field.json"
	"$TG_PY" -c 'import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
json.dump(a + b, open(sys.argv[3], "w"))' "$OPS/k8s-bad-type.json" "$OPS/k8s-bad-field.json" "$OPS/k8s-bad.json"
	schema_ok k8s_schema kubernetes-models k8s "$OPS/k8s.json" \
		k8s_schema_rejects_bad "$OPS/k8s-bad.json" \
		'spec/template/spec/hostPID must be boolean' \
		"'\"hostPID\": \"yes\",': Type 'string' is not assignable to type 'boolean" \
		"'\"hostPid\"' does not exist in type 'IPodSpec'"
	if out=$(tool k8s-consistency "$OPS/k8s.json" "$OPS/k8s-policy.yaml" 2>&1); then
		pass k8s_consistency
	else
		fail k8s_consistency "$(oneline <<<"$out")"
	fi
	if [ ! -x "$TG_BIN" ]; then
		fail k8s_policy_valid "$TG_BIN is missing (make)"
	elif [ ! -s "$OPS/k8s-policy.yaml" ]; then
		fail k8s_policy_valid "no policy in the manifest's ConfigMap"
	elif out=$("$TG_BIN" policy check "$OPS/k8s-policy.yaml" --db off 2>&1); then
		pass k8s_policy_valid
	else
		fail k8s_policy_valid "$(oneline <<<"$out")"
	fi
	# the example policy of deploy/kubernetes/README.md
	"$TG_PY" -c 'import re, sys
m = re.search(r"```yaml\n(version: 1\n.*?)```", open(sys.argv[1]).read(), re.S)
m and open(sys.argv[2], "w").write(m.group(1))' "$(dirname "$K8S")/README.md" "$OPS/readme-policy.yaml"
	if [ ! -x "$TG_BIN" ]; then
		fail k8s_readme_policy_valid "$TG_BIN is missing (make)"
	elif [ ! -s "$OPS/readme-policy.yaml" ]; then
		fail k8s_readme_policy_valid "no policy (a yaml block from version: 1) in deploy/kubernetes/README.md"
	elif out=$("$TG_BIN" policy check "$OPS/readme-policy.yaml" --db off 2>&1); then
		pass k8s_readme_policy_valid
	else
		fail k8s_readme_policy_valid "$(oneline <<<"$out")"
	fi
fi

# --- against a real agent and a real Prometheus ------------------------------------------------------
LIVE=(agent_health_series alerts_metrics_exported dashboard_metrics_exported dashboard_queries_data
	dashboard_variables_data alerts_rules_evaluate alerts_fire_on_agent_data k8s_pod_attribution)
skip_live() { local n; for n in "${LIVE[@]}"; do skip "$n" "$1"; done; tg_finish; }
[ "$(id -u)" = 0 ] || skip_live "needs root (BPF uprobes)"
[ -r /sys/kernel/btf/vmlinux ] || skip_live "needs kernel BTF"
[ -n "$(tg_cgroup_root)" ] || skip_live "needs a cgroup2 mount"
[ -n "$have_yaml" ] || skip_live "python3-yaml is not installed"
[ -x /usr/bin/prometheus ] && [ -n "$have_promtool" ] || skip_live "prometheus not installed (Debian package prometheus)"
tg_require_bin
tg_setup
rc=$?
trap ops_cleanup EXIT		# tg_setup set its own
[ "$rc" = 0 ] || { fail ops_setup "the test provider did not start"; tg_finish; }

# A team with every kind of budget: USD by the day (exhausted by the calls
# below: threshold alerts, the Exhausted alert), tokens over a rolling hour
# (a projected exhaustion time), tokens by the month (exhausted: a block,
# reported only, as the policy is in monitor mode).  And teams of
# Kubernetes pods as deploy/kubernetes/README.md writes them, for calls from
# cgroups laid out as the kubelet's (under /tollgate-test): pod A by UID
# (systemd driver), pod B by a cgroup glob whose '?' matches the UID's
# dashes (cgroupfs) and underscores (systemd), container C by its id's
# first 12 digits (CRI-O).
uuid() { "$TG_PY" -c 'import uuid; print(uuid.uuid4())'; }
hex64() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
UA=$(uuid) UB=$(uuid) UC=$(uuid) CA=$(hex64) CB=$(hex64) CB2=$(hex64) CC=$(hex64)
POD_A=kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UA//-/_}.slice/cri-containerd-$CA.scope
POD_B=kubepods/pod$UB/$CB
POD_B2=kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UB//-/_}.slice/cri-containerd-$CB2.scope
POD_C=kubepods.slice/kubepods-pod${UC//-/_}.slice/crio-$CC.scope
cat > "$OPS/policy.yaml" <<YAML
version: 1
teams:
  - name: ops
    match: { cgroup: ["/tollgate-test/ops*"] }
    budgets:
      - { window: day, limit_usd: 0.00004, alert_at: [10%, 50%], action: alert }
      - { window: "rolling:1h", limit_tokens: 100000, action: throttle }
      - { window: month, limit_tokens: 1, action: block }
  - name: pod-a
    match: { pod: ["$UA"] }
  - name: pod-b
    match: { cgroup: ["/tollgate-test/kubepods*/*pod${UB//-/?}*"] }
  - name: ctr-c
    match: { container: ["${CC:0:12}"] }
  - name: default
    match: { any: true }
mode: monitor
YAML
run=("$TG_BIN" run --policy "$OPS/policy.yaml" --events "$OPS/events.jsonl"
	--db "$OPS/ledger.db" --metrics 127.0.0.1:0)
"$TG_BIN" run --help 2>&1 | grep -q -- '--socket' && run+=(--socket "$OPS/tollgate.sock")
AGENT_T0=$(date +%s)
"${run[@]}" > "$OPS/run.out" 2> "$OPS/run.err" &
TG_TRACE_PID=$! TG_TRACE_OUT=$OPS/events.jsonl
if ! tg_trace_wait_ready; then
	fail ops_agent "the agent recorded no call: $(tail -n 5 "$OPS/run.err" | oneline)"
	tg_finish
fi
MPORT=$(sed -nE 's#.*metrics on http://[^ ]*:([0-9]+)/metrics.*#\1#p; s#.*metrics on .*, port ([0-9]+),.*#\1#p' "$OPS/run.err" | head -n 1)
if [ -z "$MPORT" ] || ! curl -sf "http://127.0.0.1:$MPORT/metrics" > /dev/null; then
	fail ops_agent "no metrics endpoint (port '$MPORT'): $(grep -m1 metrics "$OPS/run.err")"
	tg_finish
fi

# Prometheus: scrapes the agent every second, evaluates the alert rules
PPORT=$("$TG_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PROM=http://127.0.0.1:$PPORT
cat > "$OPS/prometheus.yml" <<YAML
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: ["$ALERTS"]
scrape_configs:
  - job_name: tollgate
    static_configs: [{ targets: ["127.0.0.1:$MPORT"] }]
YAML
/usr/bin/prometheus --config.file="$OPS/prometheus.yml" --storage.tsdb.path="$OPS/tsdb" \
	--web.listen-address="127.0.0.1:$PPORT" --log.level=warn > "$OPS/prometheus.log" 2>&1 &
PROM_PID=$!
# pq EXPR: the number of series EXPR returns now (empty if the query failed)
pq() {
	curl -sf --get "$PROM/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
		"$TG_PY" -c 'import json, sys; print(len(json.load(sys.stdin)["data"]["result"]))' 2>/dev/null
}
# wait_for EXPR SECONDS: until EXPR returns a series
wait_for() {
	local deadline=$((SECONDS + $2))
	while [ $SECONDS -lt $deadline ]; do
		[ "$(pq "$1")" = "${3:-1}" ] && return 0
		kill -0 "$PROM_PID" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}
if ! wait_for 'up{job="tollgate"} == 1' 30; then
	fail ops_prometheus "Prometheus did not scrape the agent: $(tail -n 5 "$OPS/prometheus.log" | oneline)"
	tg_finish
fi

# Real calls through the agent: a stream with every token bucket, twice,
# and a rate-limited one (429)
for h in 'X-Test-Usage: prompt=100,completion=20,cached=30,cache_write=10,reasoning=5' \
	'X-Test-Usage: prompt=100,completion=20,cached=30,cache_write=10,reasoning=5' \
	'X-Test-Status: 429'; do
	tg_in_cgroup ops "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model gpt-4o-mini \
		--stream --include-usage --header "$h" >> "$OPS/calls.out" 2>&1
done
# calls from the pods' cgroups
for c in "a:$POD_A" "b:$POD_B" "b2:$POD_B2" "c:$POD_C"; do
	tg_in_cgroup "${c#*:}" "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model "k8s-${c%%:*}" >> "$OPS/calls.out" 2>&1
done
# every series of the calls in Prometheus with a few samples: rates need two
if ! wait_for 'count_over_time(tollgate_requests_total{team="ops",status="429"}[1m]) >= 4' 20 ||
	! wait_for 'count_over_time(tollgate_budget_exhaustion_timestamp_seconds{team="ops"}[1m]) >= 4' 10 ||
	! wait_for 'count_over_time(tollgate_enforcement_actions_total{team="ops",action="block"}[1m]) >= 4' 10; then
	fail ops_calls "the calls did not reach Prometheus: $(tail -n 3 "$OPS/calls.out" | oneline) / $(tail -n 5 "$OPS/run.err" | oneline)"
	tg_finish
fi
curl -sf "http://127.0.0.1:$MPORT/metrics" > "$OPS/metrics.txt"

# --- the agent's own series: version, start time, probes, enforcement failures -------------------------
# The probe counters and each policy team's enforcement failures (block,
# kill) are there at 0 before anything happens, so the first one is an
# increase; the monitor-mode blocks of team ops were only reported, never
# failed.  The calls above went through the probed libssl.
out=$("$TG_PY" - "$OPS/metrics.txt" "$("$TG_BIN" version | awk '{ print $2 }')" "$AGENT_T0" "$(date +%s)" \
	ops pod-a pod-b ctr-c default <<'PY' 2>&1
import re, sys
path, version, t0, t1, teams = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
v = {}
for line in open(path):
    m = re.match(r'([a-z_]+(?:\{.*\})?) (\S+)$', line.rstrip("\n"))
    if m and not line.startswith("#"):
        v[m.group(1)] = float(m.group(2))
bad = []
if v.get('tollgate_build_info{version="%s"}' % version) != 1:
    bad.append("no tollgate_build_info{version=\"%s\"} 1" % version)
start = v.get("process_start_time_seconds")
if start is None or not t0 - 2 <= start <= t1:
    bad.append("process_start_time_seconds %r not in [%d, %d]" % (start, t0 - 2, t1))
for n in ("discovered_total", "discover_failures_total", "disabled_total", "attach_failures_total",
          "exec_holds_total"):
    if "tollgate_probe_" + n not in v:
        bad.append("no tollgate_probe_" + n)
for n in ("targets", "links"):
    if not v.get("tollgate_probe_" + n, 0) > 0:
        bad.append("tollgate_probe_%s %r, want > 0" % (n, v.get("tollgate_probe_" + n)))
for t in teams:
    for a in ("block", "kill"):
        k = 'tollgate_enforcement_failures_total{team="%s",action="%s"}' % (t, a)
        if v.get(k) != 0:
            bad.append("%s %r, want 0" % (k, v.get(k)))
print("; ".join(bad))
sys.exit(1 if bad else 0)
PY
)
if [ $? = 0 ]; then
	pass agent_health_series
else
	fail agent_health_series "$(oneline <<<"$out")"
fi

# --- every name and label used is one the agent exports -----------------------------------------------
# the variables as a user picks the team and model of the calls
out=$(tool exprs "$DASH" "$ALERTS" "$OPS/exprs-live.json" job=tollgate 'instance=.*' team=ops \
	model=gpt-4o-mini __rate_interval=10s __range=5m __interval=5s 2>&1) ||
	fail ops_exprs "$(oneline <<<"$out")"
for src in alerts dashboard; do
	if out=$(tool exported "$OPS/exprs-live.json" "$OPS/metrics.txt" $src 2>&1); then
		pass ${src}_metrics_exported
	else
		fail ${src}_metrics_exported "$(oneline <<<"$out")"
	fi
done

# --- every dashboard query runs and returns data ------------------------------------------------------------
if out=$(tool query "$OPS/exprs-live.json" "$PROM" dashboard 2>&1); then
	pass dashboard_queries_data
else
	fail dashboard_queries_data "$(oneline <<<"$out")"
fi
# the variables offer the team and model of the calls
teams=$(curl -sf --get "$PROM/api/v1/label/team/values" --data-urlencode 'match[]=tollgate_requests_total{job="tollgate"}')
models=$(curl -sf --get "$PROM/api/v1/label/model/values" --data-urlencode 'match[]=tollgate_requests_total{job="tollgate",team="ops"}')
if grep -q '"ops"' <<<"$teams" && grep -q '"gpt-4o-mini"' <<<"$models"; then
	pass dashboard_variables_data
else
	fail dashboard_variables_data "teams $teams, models $models"
fi

# --- the alert rules on real data ---------------------------------------------------------------------------------
if out=$(tool rules-health "$PROM" 2>&1); then
	pass alerts_rules_evaluate
else
	fail alerts_rules_evaluate "$(oneline <<<"$out")"
fi
# the day budget is spent past its limit: TollgateBudgetExhausted pending
# (for: 1m) for team ops, nothing of the near-limit ones for it
deadline=$((SECONDS + 10))
while :; do
	st=$(tool alerts "$PROM" TollgateBudgetExhausted team=ops window=day)
	[ -n "$st" ] || [ $SECONDS -ge $deadline ] && break
	sleep 0.5
done
near=$(tool alerts "$PROM" TollgateBudgetNearLimit team=ops window=day)
if [ "$st" = pending ] || [ "$st" = firing ] && [ -z "$near" ]; then
	pass alerts_fire_on_agent_data
else
	fail alerts_fire_on_agent_data "TollgateBudgetExhausted: '$st', TollgateBudgetNearLimit: '$near'; $(grep tollgate_budget_ "$OPS/metrics.txt" | grep -v '^#' | oneline)"
fi

# --- pods attributed as deploy/kubernetes/README.md says -----------------------------------------------
bad=
for c in a:pod-a b:pod-b b2:pod-b c:ctr-c; do
	tg_check "$OPS/events.jsonl" --wait 5 --quiet --match "model=k8s-${c%%:*}" --match "team=${c#*:}" \
		--match 'cgroup~/tollgate-test/kubepods*' --expect-count 1 ||
		bad="$bad k8s-${c%%:*}: $(tg_check "$OPS/events.jsonl" --match "model=k8s-${c%%:*}" --get team 2>&1 | oneline) (want ${c#*:});"
done
[ -z "$bad" ] && pass k8s_pod_attribution || fail k8s_pod_attribution "$bad"

tg_trace_stop
[ "$TG_TRACE_RC" = 0 ] || fail ops_agent_exit "the agent exited $TG_TRACE_RC: $(tail -n 5 "$OPS/run.err" | oneline)"
tg_finish
