#!/bin/bash
# `tollgate trace --cgroup GLOB`: probes go to processes in scope only, at
# start, exec, fork and when a process moves into a scoped cgroup; other
# processes are not seen.  Also: what trace says without root.
. "$(dirname "$0")/lib/common.sh"
tg_require_root_btf
tg_require_bin

# Without root: a clear message naming what is missing, non-zero exit.
if command -v setpriv >/dev/null; then
	msg=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$TG_BIN" trace 2>&1)
	rc=$?
	if [ $rc != 0 ] && grep -q 'needs root' <<<"$msg"; then
		pass trace_needs_root
	else
		fail trace_needs_root "exit $rc: $msg"
	fi
else
	skip trace_needs_root "setpriv (util-linux) not installed"
fi
msg=$("$TG_BIN" trace --format yaml 2>&1); rc=$?
[ $rc = 2 ] && grep -q 'expected text or jsonl' <<<"$msg" && pass trace_bad_option \
	|| fail trace_bad_option "exit $rc: $msg"

tg_setup || { fail scope_setup "provider did not start"; tg_finish; }
tg_cgroup_make in/a >/dev/null
tg_cgroup_make out >/dev/null

OUT=$TG_TMP/trace.jsonl
tg_trace_start "$OUT" --cgroup '/tollgate-test/in*'
tg_trace_wait_ready in/a || { fail scope_ready "tracer produced no record"; tg_finish; }

# in scope (below the glob's cgroup), started after the tracer
out=$(tg_in_cgroup in/a "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model scoped-in)
pid=$(tg_json "$out" pid)
tg_check "$OUT" --wait 10 --quiet --match pid="$pid" --match model=scoped-in \
	--match cgroup=/tollgate-test/in/a --expect-count 1 \
	&& pass scope_in || fail scope_in "$(tg_check "$OUT" --match model=scoped-in 2>&1 | tail -n 2)"

# in scope: node (OpenSSL inside the executable), forked by a shell in scope
out=$(tg_in_cgroup in/a sh -c '"$0" "$1" "$2" --model scoped-node; true' "$TG_NODE" "$TG_CLIENTS/node_https.js" "$TG_URL")
pid=$(tg_json "$out" pid)
tg_check "$OUT" --wait 10 --quiet --match pid="$pid" --match model=scoped-node --expect-count 1 \
	&& pass scope_fork_exec || fail scope_fork_exec "$(tg_check "$OUT" --match model=scoped-node 2>&1 | tail -n 2)"

# in scope, loading libssl by dlopen after it started
out=$(tg_in_cgroup in/a "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model scoped-dlopen --dlopen-delay 1)
pid=$(tg_json "$out" pid)
tg_check "$OUT" --wait 10 --quiet --match pid="$pid" --match model=scoped-dlopen --expect-count 1 \
	&& pass scope_dlopen || fail scope_dlopen "no record"

# out of scope: not seen
out=$(tg_in_cgroup out "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model scoped-out)
out2=$(tg_in_cgroup out "$TG_NODE" "$TG_CLIENTS/node_https.js" "$TG_URL" --model scoped-out)
sleep 1
[ "$(tg_json "$out" status)" = 200 ] && [ "$(tg_json "$out2" status)" = 200 ] || fail scope_out "client failed"
tg_check "$OUT" --quiet --match model=scoped-out --expect-count 0 \
	&& pass scope_out || fail scope_out "an out-of-scope call was recorded"

# a process that moves into the scope while it runs is probed from then on
tg_in_cgroup out "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model scoped-moved \
	--dlopen-delay 2 > "$TG_TMP/moved.out" &
mover=$!
sleep 0.5
echo "$mover" > "$(tg_cgroup_dir in/a)/cgroup.procs"
wait "$mover"
tg_check "$OUT" --wait 10 --quiet --match pid="$mover" --match model=scoped-moved \
	--match cgroup=/tollgate-test/in/a --expect-count 1 \
	&& pass scope_moved_in || fail scope_moved_in "$(cat "$TG_TMP/moved.out")"

tg_trace_stop
grep -q 'scoped_pids=' "$OUT.err" && pass scope_counters || fail scope_counters "no counters"
tg_finish
