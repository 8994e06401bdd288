#!/bin/bash
# The commands that need no BPF: prices (table, one model, import of
# LiteLLM's format), policy check (valid, invalid with FILE:LINE:COL, the
# processes a team matches now).
. "$(dirname "$0")/lib/common.sh"
tg_require_bin
TMP=$(mktemp -d /tmp/tollgate-cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# --- prices ------------------------------------------------------------------------
out=$("$TG_BIN" prices gpt-4o-2024-08-06 2>&1)
case $out in
*"dated snapshot of gpt-4o"*"input           2.5"*"output          10"*) pass cli_prices_snapshot ;;
*) fail cli_prices_snapshot "$out" ;;
esac
out=$("$TG_BIN" prices no-such-model-x 2>&1)
case $out in
*"not in the table"*"default price"*) pass cli_prices_unknown ;;
*) fail cli_prices_unknown "$out" ;;
esac
n=$("$TG_BIN" prices | grep -c ' openai ')
[ "$n" -gt 20 ] && pass cli_prices_table || fail cli_prices_table "$n openai rows"

# LiteLLM's format: per-token floats become exact per-Mtok decimals
cat > "$TMP/litellm.json" <<'JSON'
{
  "sample_spec": { "input_cost_per_token": 0.0, "litellm_provider": "openai" },
  "acme-large": { "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
                  "cache_read_input_token_cost": 1.25e-06, "litellm_provider": "openai",
                  "mode": "chat" },
  "acme-tiny": { "input_cost_per_token": 3.75e-08, "output_cost_per_token": 1.5e-07,
                 "litellm_provider": "anthropic", "mode": "chat" }
}
JSON
if "$TG_BIN" prices import "$TMP/litellm.json" -o "$TMP/prices.yaml" 2> "$TMP/import.err"; then
	mode=$(stat -c %a "$TMP/prices.yaml")
	a=$("$TG_BIN" prices --file "$TMP/prices.yaml" --json acme-large 2>&1)
	b=$("$TG_BIN" prices --file "$TMP/prices.yaml" --json acme-tiny 2>&1)
	if [ "$mode" = 600 ] && "$TG_PY" - "$a" "$b" <<'PY'
import json, sys
a, b = (json.loads(x) for x in sys.argv[1:3])
def rate(o, k):
    return o["row"]["usd_per_mtok"][k]
ok = (str(rate(a, "input")) == "2.5" and str(rate(a, "output")) == "10"
      and str(rate(a, "cached_input")) == "1.25" and str(rate(b, "input")) == "0.0375"
      and str(rate(b, "output")) == "0.15")
sys.exit(0 if ok else 1)
PY
	then
		pass cli_prices_import
	else
		fail cli_prices_import "mode $mode: $a $b"
	fi
else
	fail cli_prices_import "$(cat "$TMP/import.err")"
fi

# --- policy check ----------------------------------------------------------------------
"$TG_BIN" policy check "$TG_TOP/policies/default.yaml" > "$TMP/default.out" 2>&1 &&
	pass cli_policy_default || fail cli_policy_default "$(cat "$TMP/default.out")"
"$TG_BIN" policy check "$TG_TOP/policies/examples/teams.yaml" > /dev/null 2>&1 &&
	pass cli_policy_example || fail cli_policy_example "examples/teams.yaml is invalid"
printf 'version: 1\nteams:\n  - name: a\n    match: { cgroup: ["/x"], colour: blue }\n' \
	> "$TMP/bad.yaml"
msg=$("$TG_BIN" policy check "$TMP/bad.yaml" 2>&1); rc=$?
case "$rc:$msg" in
1:*"$TMP/bad.yaml:4:"*colour*) pass cli_policy_unknown_key ;;
*) fail cli_policy_unknown_key "rc $rc: $msg" ;;
esac
# budgets are read: a valid one passes, a bad one is refused at FILE:LINE:COL
printf 'version: 1\nteams:\n  - name: a\n    match: { any: true }\n    budgets:\n      - %s\n' \
	'{ window: day, limit_usd: 50, alert_at: [50%, 80%], action: block }' > "$TMP/budget.yaml"
"$TG_BIN" policy check "$TMP/budget.yaml" > "$TMP/budget.out" 2>&1 &&
	pass cli_policy_budget || fail cli_policy_budget "$(cat "$TMP/budget.out")"
printf 'version: 1\nteams:\n  - name: a\n    match: { any: true }\n    budgets:\n      - %s\n' \
	'{ window: day, limit_usd: 50, limit_tokens: 1000 }' > "$TMP/bad-budget.yaml"
msg=$("$TG_BIN" policy check "$TMP/bad-budget.yaml" 2>&1); rc=$?
case "$rc:$msg" in
1:*"bad-budget.yaml:6:39: 'limit_tokens' and 'limit_usd'"*) pass cli_policy_bad_budget ;;
*) fail cli_policy_bad_budget "rc $rc: $msg" ;;
esac
bad=
for f in "$TG_TOP"/policies/examples/*.yaml; do
	"$TG_BIN" policy check "$f" > "$TMP/example.out" 2>&1 || bad="$bad $(cat "$TMP/example.out")"
done
[ -z "$bad" ] && pass cli_policy_examples || fail cli_policy_examples "$bad"
# the processes a team matches now: this shell, by uid
printf 'version: 1\nteams:\n  - name: me\n    match: { uid: [%s] }\n' "$(id -u)" > "$TMP/me.yaml"
"$TG_BIN" policy check --json "$TMP/me.yaml" > "$TMP/me.json" 2>&1
if "$TG_PY" - "$TMP/me.json" "$$" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
pids = {p.get("pid") for t in o.get("teams", []) for p in t.get("processes", [])}
sys.exit(0 if int(sys.argv[2]) in pids else 1)
PY
then
	pass cli_policy_processes
else
	fail cli_policy_processes "$(head -c 400 "$TMP/me.json")"
fi
tg_finish
