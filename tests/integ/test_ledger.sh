#!/bin/bash
# The ledger survives crashes: `tollgate run --db` is killed with SIGKILL
# 20 times at random moments while a client makes a steady stream of calls
# (a third of them streamed), and restarted each time.  Then:
#  - every call that began after an agent was ready and ended well before
#    its kill (200 ms: what the agent reads and the writer commits, at most
#    ~150 ms, may not be on disk yet) has exactly one settled row with the
#    provider's exact usage;
#  - a call in flight at a kill has at most one row: interrupted (an
#    estimate) or settled, never two;
#  - no row is left open, every crashed run is marked crashed, the last run
#    stopped;
#  - the ledger and its WAL files are 0600 in a 0700 directory.
. "$(dirname "$0")/lib/common.sh"
tg_require_root_btf
tg_require_bin
tg_setup || { fail ledger_setup "provider did not start"; tg_finish; }
KILLS=${TG_LEDGER_KILLS:-20}
DIR=$TG_TMP/state
DB=$DIR/ledger.db
LOOP=$TG_TMP/loop.out
STOPF=$TG_TMP/stop
: > "$TG_TMP/runs"

start_agent() {		# N
	"$TG_BIN" run --policy "$TG_TOP/policies/default.yaml" --db "$DB" --metrics off --socket "$TG_TMP/tollgate.sock" \
		--events "$TG_TMP/ev.$1.jsonl" > /dev/null 2> "$TG_TMP/run.$1.err" &
	TG_TRACE_PID=$! TG_TRACE_OUT=$TG_TMP/ev.$1.jsonl
	tg_trace_wait_ready || return 1
	echo "ready $1 $(date +%s%N)" >> "$TG_TMP/runs"
}

start_agent 0 || { fail ledger_ready "run produced no record"; tg_finish; }
tg_in_cgroup loop "$TG_PY" "$TG_CLIENTS/py_loop.py" "$TG_URL" "$TG_CA" --calls 1000000 \
	--stop-file "$STOPF" > "$LOOP" 2> "$TG_TMP/loop.err" &
loop_pid=$!
for k in $(seq 1 "$KILLS"); do
	sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.5 + r % 150 / 100 }')"
	echo "kill $((k - 1)) $(date +%s%N)" >> "$TG_TMP/runs"
	kill -KILL "$TG_TRACE_PID"
	wait "$TG_TRACE_PID" 2>/dev/null
	start_agent "$k" || { fail ledger_restart "agent $k did not come back"; break; }
done
sleep 1
touch "$STOPF"
wait "$loop_pid"
sleep 0.5
echo "stop $KILLS $(date +%s%N)" >> "$TG_TMP/runs"
tg_trace_stop
[ "$TG_TRACE_RC" = 0 ] && pass ledger_last_exit || fail ledger_last_exit "exit $TG_TRACE_RC"

modes=$(stat -c '%a' "$DIR" "$DB" "$DB-wal" "$DB-shm" 2>/dev/null | tr '\n' ' ')
[ "$modes" = "700 600 600 600 " ] || [ "$modes" = "700 600 " ] &&
	pass ledger_modes || fail ledger_modes "modes: $modes"

"$TG_PY" - "$DB" "$LOOP" "$TG_TMP/runs" <<'PY'
import json, sqlite3, sys
db, loop, runs = sys.argv[1:4]
MARGIN = 200_000_000
windows, ready = [], {}
for line in open(runs):
    what, n, t = line.split()
    if what == "ready":
        ready[n] = int(t)
    else:
        windows.append((ready[n], int(t), what))
calls = [json.loads(l) for l in open(loop) if l.strip()]
con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
rows = {}
for model, state, *b in con.execute(
        "SELECT model, state, input_tokens, cached_input_tokens, cache_write_tokens,"
        " output_tokens, reasoning_tokens FROM calls WHERE model LIKE 'crash-%'"):
    rows.setdefault(model, []).append((state, b))
bad = {"exact": [], "doubled": [], "state": []}
n_exact = n_flight = 0
for c in calls:
    got = rows.get(c["model"], [])
    if len(got) > 1:
        bad["doubled"].append(c["model"])
        continue
    whole = any(r <= c["start_ns"] and c["end_ns"] + MARGIN <= k and not c.get("error")
                for r, k, _ in windows)
    if whole:
        n_exact += 1
        u = c["usage"]
        want = [u[k] for k in ("input_tokens", "cached_input_tokens", "cache_write_tokens",
                               "output_tokens", "reasoning_tokens")]
        if not got or got[0][0] != "settled" or got[0][1] != want:
            bad["exact"].append("%s: %s want %s" % (c["model"], got, want))
    elif got:
        n_flight += 1
        if got[0][0] not in ("settled", "interrupted"):
            bad["state"].append("%s: %s" % (c["model"], got[0][0]))
left_open = con.execute("SELECT count(*) FROM calls WHERE state = 'open'").fetchone()[0]
ends = [e for (e,) in con.execute("SELECT end FROM runs ORDER BY id")]
print("# %d calls, %d whole inside a run, %d others with a row, %d kills" % (
    len(calls), n_exact, n_flight, sum(1 for w in windows if w[2] == "kill")))
def res(name, ok, why):
    print("PASS %s" % name if ok else "FAIL %s: %s" % (name, why))
res("ledger_exact_once", not bad["exact"] and n_exact > 100,
    "%d whole calls, %d wrong: %s" % (n_exact, len(bad["exact"]), bad["exact"][:5]))
res("ledger_never_doubled", not bad["doubled"], bad["doubled"][:5])
res("ledger_in_flight_settled", not bad["state"], bad["state"][:5])
res("ledger_none_open", left_open == 0, "%d rows open" % left_open)
kills = sum(1 for w in windows if w[2] == "kill")
res("ledger_runs", ends.count("crashed") == kills and ends[-1:] == ["stopped"],
    "run ends %s" % ends)
PY

# The report's totals are the sum of the rows (read while nothing writes,
# and again while an agent writes: WAL readers do not wait).
"$TG_BIN" report --db "$DB" --since 1d --by team,model --format json > "$TG_TMP/report.json" \
	2> "$TG_TMP/report.err"
if "$TG_PY" - "$DB" "$TG_TMP/report.json" <<'PY'
import decimal, json, sqlite3, sys
db, rep = sys.argv[1:3]
rows = json.load(open(rep), parse_float=decimal.Decimal)
con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
n, cost, out = con.execute("SELECT count(*), sum(cost_nano), sum(output_tokens) FROM calls").fetchone()
got_n = sum(r["requests"] for r in rows)
got_cost = sum(decimal.Decimal(str(r["cost_usd"])) for r in rows) * 10**9
got_out = sum(r["output_tokens"] for r in rows)
print("# report: %d requests, %s nano-USD; ledger: %d, %d" % (got_n, got_cost, n, cost))
sys.exit(0 if (got_n, int(got_cost), got_out) == (n, cost, out) else 1)
PY
then
	pass ledger_report_totals
else
	fail ledger_report_totals "$(head -c 300 "$TG_TMP/report.json") $(cat "$TG_TMP/report.err")"
fi
grep -q 'crashed' "$TG_TMP/report.err" && pass ledger_report_blind_spells ||
	fail ledger_report_blind_spells "no crashed run listed: $(head -c 300 "$TG_TMP/report.err")"
tg_finish
