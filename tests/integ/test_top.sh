#!/bin/bash
# `tollgate top` on a seeded ledger (no BPF, no root): --once prints the
# teams, models and exact totals as plain text; with --metrics pointed at a
# stand-in endpoint (python3, a fixed exposition) it shows the budgets, the
# gate and the actions, trimmed to 80x24, and no budget section when none
# are exposed; under tmux (80x24) the live view fits, refreshes when a row
# is added, and q, SIGTERM and Ctrl-C each end it with the terminal given
# back (echo and icanon on, main screen).
. "$(dirname "$0")/lib/common.sh"

tg_require_bin

TMP=$(mktemp -d /tmp/tollgate-top.XXXXXX) || { fail top_setup "mktemp"; tg_finish; }
SOCK=tollgate-test-$$
tmx() { tmux -L "$SOCK" -f /dev/null "$@"; }
MPID=
cleanup() {
	[ -n "$MPID" ] && kill "$MPID" 2>/dev/null
	command -v tmux >/dev/null && tmx kill-server 2>/dev/null
	[ -n "${TG_KEEP:-}" ] && echo "# kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT

DB=$TMP/ledger.db
S=1000000000
NOW=$(date +%s%N)
# Every call in the last minute: today's and the hour's sums are the same,
# whatever the time of day -- unless the UTC day began under a minute ago.
if [ $(((NOW / S) % 86400)) -lt 90 ]; then
	sleep 90
	NOW=$(date +%s%N)
fi

# The schema of include/ledger.h, version 2.
sqlite3 "$DB" >/dev/null <<EOF || { fail top_seed "sqlite3"; tg_finish; }
PRAGMA journal_mode=WAL;
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
INSERT INTO meta VALUES('schema_version', '2');
CREATE TABLE runs(id INTEGER PRIMARY KEY, pid INTEGER, start_ns INTEGER,
	stop_ns INTEGER, last_seen_ns INTEGER, "end" TEXT);
CREATE TABLE calls(id INTEGER PRIMARY KEY, run INTEGER, seq INTEGER,
	state TEXT, ts_ns INTEGER, end_ns INTEGER, pid INTEGER, comm TEXT,
	exe TEXT, uid INTEGER, user TEXT, cgroup TEXT, unit TEXT,
	container TEXT, team TEXT, provider TEXT, host TEXT, path TEXT,
	model TEXT, stream INTEGER, status INTEGER, request_bytes INTEGER,
	response_bytes INTEGER, input_tokens INTEGER,
	cached_input_tokens INTEGER, cache_write_tokens INTEGER,
	output_tokens INTEGER, reasoning_tokens INTEGER, usage_source TEXT,
	cost_nano INTEGER, unpriced INTEGER, ttft_ns INTEGER,
	duration_ns INTEGER, key_fp TEXT, capture TEXT, action TEXT);
CREATE INDEX calls_ts ON calls(ts_ns);
INSERT INTO runs VALUES(1, 111, $NOW - 7200 * $S, NULL, $NOW - 7100 * $S, 'crashed');
-- the heartbeat far ahead: the run stays "running" for the whole test
INSERT INTO runs VALUES(2, 4242, $NOW - 600 * $S, NULL, $NOW + 3600 * $S, NULL);
INSERT INTO calls(run, seq, state, ts_ns, team, provider, model, status,
	input_tokens, output_tokens, usage_source, cost_nano) VALUES
(2, 1, 'settled',     $NOW - 50 * $S, 'alpha', 'openai',    'gpt-4o',        200, 1000, 500, 'provider',  12345678),
(2, 2, 'settled',     $NOW - 40 * $S, 'alpha', 'openai',    'gpt-4o',        200, 2000, 100, 'provider',   2000000),
(2, 3, 'open',        $NOW - 30 * $S, 'beta',  'anthropic', 'claude-sonnet', NULL, 300,   0, 'estimated',    50000),
(2, 4, 'interrupted', $NOW - 20 * $S, 'beta',  'anthropic', 'claude-sonnet', NULL, 400,  10, 'estimated',   149950),
(2, 5, 'settled',     $NOW - 10 * $S, 'evil' || char(27) || '[2J', 'openai', 'gpt-4o-mini', 429, 10, 0, 'provider', 0);
EOF

# --- --once: plain text, exact money ------------------------------------------

out=$("$TG_BIN" top --db "$DB" --once 2>"$TMP/err")
rc=$?
echo "$out" | sed 's/^/    | /' >&2
if [ $rc -ne 0 ]; then
	fail top_once "exit $rc: $(cat "$TMP/err")"
else
	pass top_once
fi
has() { grep -Eq -- "$2" <<<"$1"; }
# 14345678 + 2000000 + 50000 + 149950 + 0 nano-USD
has "$out" 'spend \$0\.0145/h \(1h\)  today \$0\.014545628$' &&
	pass top_once_totals || fail top_once_totals "header totals"
has "$out" 'agent running since .* \(pid 4242\)' &&
	pass top_once_agent || fail top_once_agent "agent state"
# 0.014345678 -> 0.0143; 0.00019995 rounds up to 0.0002; beta is all estimated
has "$out" '^alpha +2 +0\.0143 +0\.0143 +0\.0$' &&
	has "$out" '^beta +2 +0\.0002 +0\.0002 +100\.0$' &&
	pass top_once_teams || fail top_once_teams "team rows"
has "$out" '^gpt-4o +openai +2 +3000 +600 +0\.0143$' &&
	has "$out" '^claude-sonnet +anthropic +2 +700 +10 +0\.0002$' &&
	pass top_once_models || fail top_once_models "model rows"
has "$out" ' 429 +10 +0 +0\.000000 settled$' &&
	has "$out" 'beta +claude-sonnet +- +300 +0 +0\.000050 open$' &&
	has "$out" 'beta +claude-sonnet +- +400 +10 +0\.000150 interrupted$' &&
	pass top_once_calls || fail top_once_calls "last calls"
if grep -q $'\033' <<<"$out"; then
	fail top_once_plain "an escape sequence in --once output (a hostile team name?)"
elif ! has "$out" 'evil\\x1b\[2J'; then
	fail top_once_plain "the hostile team name is not shown escaped"
else
	pass top_once_plain
fi
if [ "$(wc -l <<<"$out")" -le 24 ] && [ "$(awk '{ if (length($0) > n) n = length($0) } END { print n + 0 }' <<<"$out")" -le 80 ]; then
	pass top_once_fits
else
	fail top_once_fits "more than 80x24"
fi

# --- --once --metrics: budgets, the gate, actions ---------------------------------

# A stand-in for the agent's endpoint: GET /metrics answers the file as it is now.
cat > "$TMP/serve.py" <<'EOF'
import http.server, os, sys
path, portfile = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == '/metrics'
        body = open(path, 'rb').read() if ok else b''
        self.send_response(200 if ok else 404)
        self.send_header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
srv = http.server.HTTPServer(('127.0.0.1', 0), H)
with open(portfile + '.tmp', 'w') as f:
    f.write(str(srv.server_port))
os.rename(portfile + '.tmp', portfile)
srv.serve_forever()
EOF
NOW_S=$(date +%s)
EXH1=$((NOW_S + 3600))			# within a day: HH:MM
EXH2=$((NOW_S + 3 * 86400))		# later: MM-DD HH:MM
H1=$(date -u -d "@$EXH1" +%H:%M)
D2=$(date -u -d "@$EXH2" '+%m-%d %H:%M')
# The team ev"il\<newline><ESC>[2J: quote, backslash and newline escaped as
# the exposition escapes them, and a raw ESC byte.
EVIL='ev\"il\\\n'$'\033''[2J'
cat > "$TMP/budgets.txt" <<EOF
# HELP tollgate_connections_open TLS connections being followed.
# TYPE tollgate_connections_open gauge
tollgate_connections_open 3
# HELP tollgate_enforcement_actions_total Enforcement actions.
# TYPE tollgate_enforcement_actions_total counter
tollgate_enforcement_actions_total{team="alpha",action="throttle",reason="budget",mode="enforce"} 2
tollgate_enforcement_actions_total{team="beta",action="throttle",reason="rate_limit",mode="monitor"} 1
tollgate_enforcement_actions_total{team="beta",action="block",reason="model",mode="enforce"} 1
# HELP tollgate_budget_spent_usd Settled spend.
# TYPE tollgate_budget_spent_usd gauge
tollgate_budget_spent_usd{team="alpha",window="day"} 0.45
tollgate_budget_spent_usd{team="alpha",window="month"} 12.3456789
tollgate_budget_spent_usd{team="$EVIL",window="week"} 9.5
tollgate_budget_reserved_usd{team="alpha",window="day"} 0.05
tollgate_budget_limit_usd{team="alpha",window="day"} 0.5
tollgate_budget_limit_usd{team="alpha",window="month"} 900
tollgate_budget_limit_usd{team="$EVIL",window="week"} 10
tollgate_budget_spent_tokens{team="beta",window="rolling:15m"} 120000
tollgate_budget_reserved_tokens{team="beta",window="rolling:15m"} 4096
tollgate_budget_limit_tokens{team="beta",window="rolling:15m"} 200000
tollgate_budget_exhaustion_timestamp_seconds{team="alpha",window="day"} $EXH1.25
tollgate_budget_exhaustion_timestamp_seconds{team="$EVIL",window="week"} $EXH2
# HELP tollgate_requests_held Requests held.
# TYPE tollgate_requests_held gauge
tollgate_requests_held 2
tollgate_processes_gated 1
EOF
cp "$TMP/budgets.txt" "$TMP/metrics.txt"
python3 "$TMP/serve.py" "$TMP/metrics.txt" "$TMP/mport" & MPID=$!
for i in $(seq 1 50); do [ -s "$TMP/mport" ] && break; sleep 0.1; done
MADDR=127.0.0.1:$(cat "$TMP/mport" 2>/dev/null)
top_m() { "$TG_BIN" top --db "$DB" --once --metrics "$MADDR" 2>"$TMP/err"; }

if [ ! -s "$TMP/mport" ]; then
	fail top_budgets "the stand-in metrics endpoint did not start"
else
	out=$(top_m)
	rc=$?
	echo "$out" | sed 's/^/    | /' >&2
	# Nearest its limit first: 95% (9.5 of 10), 90% (0.45 of 0.5), 60%; at
	# 80x24 a section has 3 rows, so alpha's month (1.4%) is only counted.
	rows=$(sed -n '/^BUDGETS/,/^held /p' <<<"$out" | awk 'NR > 1 && !/^held / { print $1, $2 }')
	want=$(printf '%s\n' 'ev"il\x5c\x0a\x1b[2J week' 'alpha day' 'beta rolling:15m')
	if [ $rc -ne 0 ]; then
		fail top_budgets "exit $rc: $(cat "$TMP/err")"
	elif ! has "$out" '^BUDGETS \(\+1\) +WINDOW +SPENT +LIMIT +USED% +EXHAUSTS$'; then
		fail top_budgets "no BUDGETS title"
	elif ! has "$out" '^alpha +day +\$0\.4500 +\$0\.5000 +90\.0 +'"$H1"'$' ||
	     ! has "$out" '^beta +rolling:15m +120000 tok +200000 tok +60\.0 +-$'; then
		fail top_budgets "budget rows"
	elif [ "$rows" != "$want" ]; then
		fail top_budgets "order: $(tr '\n' '|' <<<"$rows")"
	else
		pass top_budgets
	fi
	has "$out" '^held 2  gated 1  actions: throttle 3  block 1$' &&
		pass top_budgets_gate || fail top_budgets_gate "no held/gated/actions line"
	if grep -q $'\033' <<<"$out"; then
		fail top_budgets_escaped "an escape sequence in --once output"
	elif ! has "$out" '^ev"il\\x5c\\x0a\\x1b\[2J +week +\$9\.5000 +\$10\.0000 +95\.0 +'"$D2"'$'; then
		fail top_budgets_escaped "the hostile team name is not shown escaped"
	else
		pass top_budgets_escaped
	fi
	has "$out" '^capture: 3 conns' && has "$out" '^alpha +2 +0\.0143' &&
		has "$out" '^gpt-4o +openai' && has "$out" '^TIME +TEAM' &&
		pass top_budgets_rest || fail top_budgets_rest "the other sections are missing"
	if [ "$(wc -l <<<"$out")" -le 24 ] &&
	   [ "$(awk '{ if (length($0) > n) n = length($0) } END { print n + 0 }' <<<"$out")" -le 80 ]; then
		pass top_budgets_fits
	else
		fail top_budgets_fits "more than 80x24"
	fi

	# more budgets than rows: the nearest shown, the rest counted
	{
		cat "$TMP/budgets.txt"
		for i in $(seq 10 39); do
			echo "tollgate_budget_spent_usd{team=\"t$i\",window=\"day\"} $i"
			echo "tollgate_budget_limit_usd{team=\"t$i\",window=\"day\"} 100"
		done
	} > "$TMP/metrics.txt"
	out=$(top_m)
	echo "$out" | sed 's/^/    | /' >&2
	n=$(sed -n '/^BUDGETS/,/^held /p' <<<"$out" | grep -vc -e '^BUDGETS' -e '^held ')
	if ! has "$out" '^BUDGETS \(\+[0-9]+\) +WINDOW'; then
		fail top_budgets_trim "no count of the budgets not shown"
	elif [ "$n" -lt 1 ] || ! has "$out" "^BUDGETS \\(\\+$((34 - n))\\)"; then
		fail top_budgets_trim "$n rows shown, title: $(grep '^BUDGETS' <<<"$out")"
	elif ! has "$out" '^alpha +day +\$0\.4500 .* 90\.0 ' || [ "$n" -gt 4 ] ||
	     ! has "$out" '^held 2 ' ||
	     ! has "$out" '^TIME +TEAM' || [ "$(wc -l <<<"$out")" -gt 24 ]; then
		fail top_budgets_trim "the frame does not fit 24 rows with each section"
	else
		pass top_budgets_trim
	fi

	# an endpoint with no budgets: no budget section at all
	grep -v -e '^tollgate_budget_' -e '^tollgate_enforcement_' -e '^tollgate_requests_held' \
		-e '^tollgate_processes_gated' "$TMP/budgets.txt" > "$TMP/metrics.txt"
	out=$(top_m)
	if has "$out" '^capture: 3 conns' && ! has "$out" '^BUDGETS|^held '; then
		pass top_budgets_none
	else
		fail top_budgets_none "$(grep -e '^BUDGETS' -e '^held ' -e '^capture' <<<"$out")"
	fi
fi
kill "$MPID" 2>/dev/null
MPID=

# --- errors ---------------------------------------------------------------------

"$TG_BIN" top --db "$TMP/missing.db" --once >/dev/null 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && grep -q 'missing.db: No such file' "$TMP/err" &&
	pass top_missing_db || fail top_missing_db "exit $rc: $(cat "$TMP/err")"
echo "not a database" > "$TMP/junk.db"
"$TG_BIN" top --db "$TMP/junk.db" --once >/dev/null 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && grep -q 'junk.db' "$TMP/err" &&
	pass top_not_a_ledger || fail top_not_a_ledger "exit $rc: $(cat "$TMP/err")"
sqlite3 "$TMP/other.db" 'CREATE TABLE t(x);'
"$TG_BIN" top --db "$TMP/other.db" --once >/dev/null 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && grep -q 'not a tollgate ledger' "$TMP/err" &&
	pass top_other_db || fail top_other_db "exit $rc: $(cat "$TMP/err")"

# --- live, under tmux -----------------------------------------------------------

if ! command -v tmux >/dev/null; then
	skip top_live "tmux is not installed"
	tg_finish
fi

# The pane runs top, then shows how it left the terminal, then idles.
cat > "$TMP/pane.sh" <<'EOF'
#!/bin/bash
sh -c 'echo $$ > "$1"; exec "$2" top --db "$3"' sh "$1" "$TG_BIN" "$DB"
echo "top-exit=$?"
echo "tty: $(stty -a | tr ' ;' '\n\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\n' ' ')"
sleep 120
EOF
chmod +x "$TMP/pane.sh"

pane() { tmx capture-pane -p -t "$1"; }
# wait_pane SESSION REGEX [SECONDS]
wait_pane() {
	local i
	for i in $(seq 1 $((${3:-10} * 10))); do
		pane "$1" 2>/dev/null | grep -Eq -- "$2" && return 0
		sleep 0.1
	done
	return 1
}
start_top() {	# SESSION
	tmx new-session -d -s "$1" -x 80 -y 24 \
		"env TG_BIN='$TG_BIN' DB='$DB' '$TMP/pane.sh' '$TMP/$1.pid'" || return 1
	wait_pane "$1" '^TIME +TEAM'
}
# ended SESSION NAME: top exited 0 and gave the terminal back
ended() {
	local s=$1 name=$2
	# the tty line is the last the pane script prints after top exits
	if ! wait_pane "$s" '^tty:' 5; then
		fail "$name" "top did not exit"; pane "$s" | sed 's/^/    | /' >&2; return
	fi
	local p; p=$(pane "$s")
	if kill -0 "$(cat "$TMP/$s.pid")" 2>/dev/null; then
		fail "$name" "top is still running"
	elif ! grep -q '^top-exit=0$' <<<"$p"; then
		fail "$name" "$(grep '^top-exit' <<<"$p")"
	elif ! grep -q '^tty: icanon echo *$' <<<"$p"; then
		fail "$name" "terminal not restored: $(grep '^tty:' <<<"$p")"
	elif grep -q '^TEAM' <<<"$p"; then
		fail "$name" "the frame is still on the screen (alternate screen not left)"
	else
		pass "$name"
	fi
}

if ! start_top live; then
	fail top_live_frame "no frame in 10 s"
	pane live | sed 's/^/    | /' >&2
	tg_finish
fi
sleep 0.5
p=$(pane live)
echo "$p" | sed 's/^/    | /' >&2
# Scrolling would push the header off the top: it must be row 1.
if head -n 1 <<<"$p" | grep -q 'agent running since' &&
   grep -Eq '^alpha +2 +0\.0143' <<<"$p" && grep -Eq '^beta ' <<<"$p" &&
   grep -Eq '^gpt-4o +openai' <<<"$p" &&
   [ "$(wc -l <<<"$p")" -le 24 ] &&
   [ "$(awk '{ if (length($0) > n) n = length($0) } END { print n + 0 }' <<<"$p")" -le 80 ]; then
	pass top_live_frame
else
	fail top_live_frame "frame does not show the teams in 80x24"
fi

NOW=$(date +%s%N)
sqlite3 "$DB" "INSERT INTO calls(run, seq, state, ts_ns, team, provider, model,
	status, input_tokens, output_tokens, usage_source, cost_nano)
	VALUES(2, 6, 'settled', $NOW, 'gamma', 'google', 'gemini-new', 200, 77, 88,
	'provider', 1000000000)"
if wait_pane live '^gamma +1 +1\.0000 +1\.0000' 5 && wait_pane live '^gemini-new +google' 1 &&
   wait_pane live 'gamma +gemini-new +200 +77 +88 +1\.000000 settled' 1; then
	pass top_live_refresh
else
	fail top_live_refresh "the new call did not show up in 5 s"
	pane live | sed 's/^/    | /' >&2
fi

tmx send-keys -t live q
ended live top_live_quit_q

start_top term || fail top_live_sigterm "no frame"
kill -TERM "$(cat "$TMP/term.pid")"
ended term top_live_sigterm

start_top intr || fail top_live_ctrl_c "no frame"
tmx send-keys -t intr C-c
ended intr top_live_ctrl_c

tg_finish
