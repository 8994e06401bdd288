#!/bin/bash
# What a hostile process, a careless pipeline or a big host does to the
# agent, with real BPF and real clients: option misuse, a closed output,
# captured strings that try to forge output, keys in odd places, bodies
# that decode to gigabytes, connections reused after going idle, and the
# TLS tollgate cannot see yet (HTTP/2, GnuTLS, Go), which must be named.
. "$(dirname "$0")/lib/common.sh"
tg_require_root_btf
tg_require_bin

# --- options: misuse is refused with the command's name, nothing wraps ----
msg=$(timeout 10 "$TG_BIN" trace --call-cap 17179869185G 2>&1); rc=$?
[ $rc = 2 ] && grep -q '^tollgate trace: --call-cap: expected 1 to 1G' <<<"$msg" \
	&& pass call_cap_overflow_refused || fail call_cap_overflow_refused "exit $rc: $msg"
msg=$(timeout 10 "$TG_BIN" trace --ringbuf 18446744073709551616 2>&1); rc=$?
[ $rc = 2 ] && grep -q 'expected a power of two' <<<"$msg" \
	&& pass ringbuf_overflow_refused || fail ringbuf_overflow_refused "exit $rc: $msg"
msg=$(timeout 10 "$TG_BIN" trace --no-such-option 2>&1); rc=$?
[ $rc = 2 ] && grep -q "^tollgate trace: unrecognized option '--no-such-option'" <<<"$msg" \
	&& pass option_error_names_command || fail option_error_names_command "exit $rc: $msg"
msg=$(timeout 10 "$TG_BIN" run --policy /nonexistent extra 2>&1); rc=$?
[ $rc = 2 ] && grep -q "^tollgate run: unexpected argument 'extra'" <<<"$msg" \
	&& pass run_error_names_command || fail run_error_names_command "exit $rc: $msg"

tg_setup || { fail hardening_setup "provider did not start"; tg_finish; }

# --- -v: libbpf's messages, named once -----------------------------------
"$TG_BIN" trace -v --ready-file "$TG_TMP/v.ready" > /dev/null 2> "$TG_TMP/v.err" &
vp=$!
for i in $(seq 1 100); do [ -e "$TG_TMP/v.ready" ] && break; sleep 0.1; done
kill -INT "$vp"; wait "$vp"; rc=$?
if [ $rc = 0 ] && grep -q '^tollgate: debug: libbpf: ' "$TG_TMP/v.err" &&
	! grep -q 'libbpf: libbpf:' "$TG_TMP/v.err"; then
	pass verbose_libbpf_prefix
else
	fail verbose_libbpf_prefix "exit $rc: $(grep -m 2 'libbpf' "$TG_TMP/v.err")"
fi

# --- a ring buffer too small for a call: the loss is a counted gap -------
OUT=$TG_TMP/small-ring.jsonl
tg_trace_start "$OUT" --ringbuf 64K --call-cap 8M
tg_trace_wait_ready || { fail hardening_ready "tracer produced no record"; tg_finish; }
out=$("$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model small-ring --body-bytes $((4 << 20)))
pid=$(tg_json "$out" pid)
# (the model may be among the bytes lost: the call is metered all the same)
tg_check "$OUT" --wait 10 --quiet --match pid="$pid" --match path=/v1/chat/completions \
	--match capture=gap --match status=200 --match request_bytes=$((4 << 20)) --expect-count 1 \
	&& pass ringbuf_full_is_a_gap \
	|| fail ringbuf_full_is_a_gap "$(tg_check "$OUT" --match pid="$pid" 2>&1 | tail -n 2)"
tg_trace_stop
rb=$(tg_counter "$OUT.err" counters gap_bytes_ringbuf)
gaps=$(tg_counter "$OUT.err" counters gaps)
inferred=$(tg_counter "$OUT.err" connections inferred_gaps)
if [ "${rb:-0}" -gt 0 ] && [ $((gaps + inferred)) -gt 0 ] && [ "$TG_TRACE_RC" = 0 ]; then
	pass ringbuf_gap_counted
else
	fail ringbuf_gap_counted "gap_bytes_ringbuf=$rb gaps=$gaps inferred_gaps=$inferred exit=$TG_TRACE_RC"
fi

# --- a closed output ends the command: trace | head -1 -------------------
ready=$TG_TMP/head.ready
( "$TG_BIN" trace --format jsonl --ready-file "$ready" 2> "$TG_TMP/head.err" &
  echo $! > "$TG_TMP/head.pid"; wait ) | head -n 1 > "$TG_TMP/head.out" &
pipeline=$!
for i in $(seq 1 100); do [ -e "$ready" ] && break; sleep 0.1; done
# one call: head prints its record and exits; with no further record to
# write, the agent must still notice the closed pipe and end
"$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model head-one >/dev/null
hp=$(cat "$TG_TMP/head.pid" 2>/dev/null)
for i in $(seq 1 50); do kill -0 "$hp" 2>/dev/null || break; sleep 0.1; done
if [ -z "$hp" ] || kill -0 "$hp" 2>/dev/null; then
	fail pipe_closed_ends_trace "still running 5 s after head exited"
	kill -INT "$hp" 2>/dev/null
elif [ "$(wc -l < "$TG_TMP/head.out")" != 1 ] || ! grep -q 'counters:' "$TG_TMP/head.err"; then
	fail pipe_closed_ends_trace "$(cat "$TG_TMP/head.out") / $(tail -n 2 "$TG_TMP/head.err")"
else
	pass pipe_closed_ends_trace
fi
wait "$pipeline" 2>/dev/null

# --- the text format cannot be forged by what it prints -------------------
OUT=$TG_TMP/text.out
"$TG_BIN" trace --format text > "$OUT" 2> "$OUT.err" &
TG_TRACE_PID=$!
TG_TRACE_OUT=$OUT
sleep 1
evil=$'evil\n12:00:00.000 1       forged \x1b[2J\xc2\x9b31m\xe2\x80\xae'
out=$("$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model "$evil")
pid=$(tg_json "$out" pid)
for i in $(seq 1 50); do grep -q "^.* $pid " "$OUT" && break; sleep 0.1; done
tg_trace_stop
lines=$(grep -c "$pid" "$OUT")
if [ "$lines" = 1 ] && grep -q 'evil\\x0a12:00:00.000\\x201' "$OUT" && ! grep -q $'\x1b' "$OUT" &&
	! grep -q $'\xc2\x9b' "$OUT" && ! grep -q $'\xe2\x80\xae' "$OUT" && ! grep -q '^12:00:00.000 1 ' "$OUT"; then
	pass text_output_escaped
else
	fail text_output_escaped "$lines lines for pid $pid: $(grep -a "$pid" "$OUT" | cat -v | head -n 3)"
fi

# --- JSON lines: the same string arrives whole, escaped by JSON ----------
OUT=$TG_TMP/trace.jsonl
tg_trace_start "$OUT" --conn-idle 2 --max-buffer 16M
tg_trace_wait_ready || { fail hardening_ready "tracer produced no record"; tg_finish; }
out=$("$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model "$evil")
pid=$(tg_json "$out" pid)
if tg_check "$OUT" --wait 10 --quiet --match pid="$pid" --expect-count 1 &&
	[ "$(tg_check "$OUT" --match pid="$pid" --get model)" = "$evil" ]; then
	pass jsonl_model_exact
else
	fail jsonl_model_exact "$(tg_check "$OUT" --match pid="$pid" 2>&1 | tail -n 2)"
fi

# --- a key in the userinfo of an absolute-form target is not kept --------
out=$("$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model absolute-form \
	--absolute 'user:sk-test-userinfo-SECRET')
pid=$(tg_json "$out" pid)
tg_check "$OUT" --wait 10 --quiet --match pid="$pid" --match model=absolute-form \
	--match path=/v1/chat/completions --expect-count 1 \
	&& pass userinfo_stripped || fail userinfo_stripped "$out / $(tg_check "$OUT" --match pid="$pid" 2>&1 | tail -n 2)"

# --- a keep-alive connection reused after the idle expiry: no gap --------
out=$("$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model idle-reuse --repeat 2 --pause 4)
pid=$(tg_json "$out" pid)
[ "$(tg_json "$out" connections)" = 1 ] || fail idle_reuse_no_gap "client used $(tg_json "$out" connections) connections"
tg_check "$OUT" --wait 10 --quiet --match pid="$pid" --match model=idle-reuse \
	--match capture=complete --match status=200 --expect-count 2 \
	&& pass idle_reuse_no_gap || fail idle_reuse_no_gap "$(tg_check "$OUT" --match pid="$pid" 2>&1 | tail -n 3)"

# --- TLS tollgate cannot see is named, never silently missed; GnuTLS and
# HTTP/2 are seen ------------------------------------------------------------
"$TG_PY" -c 'import ctypes, time; ctypes.CDLL("libgnutls.so.30"); time.sleep(1.5)' &
gnutls=$!
# (an executable carrying BoringSSL's name in its read-only data, as Bun's
# stripped build does: named, not probed)
printf 'OpenSSL 1.1.1 (compatible; BoringSSL)' > "$TG_TMP/bssl.txt"
cp /bin/sleep "$TG_TMP/bunlike" &&
	objcopy --add-section .rodata.tg="$TG_TMP/bssl.txt" "$TG_TMP/bunlike" 2>/dev/null
"$TG_TMP/bunlike" 1.5 &
bunlike=$!
# (a 386 Go build: no register ABI, its crypto/tls cannot be probed)
GO386=$TG_BUILD/integ/go_llm_386
if [ -x "$GO386" ] && "$GO386" -h >/dev/null 2>&1; then
	"$GO386" -url https://127.0.0.1:1/v1/chat/completions -delay-ms 1500 >/dev/null 2>&1 &
	gobin=$!
else
	gobin=
fi
h2=$("$TG_NODE" "$TG_CLIENTS/node_h2.js" "$TG_TMP/certs/server.pem" "$TG_TMP/certs/server.key" "$TG_CA")
h2pid=$(tg_json "$h2" pid)
wait "$gnutls"
sleep 0.5
grep -q "GnuTLS found in .*libgnutls.so" "$OUT.err" \
	&& pass gnutls_probed || fail gnutls_probed "$(grep -i gnutls "$OUT.err" | tail -n 2)"
wait "$bunlike"
grep -q "pid $bunlike (bunlike, $TG_TMP/bunlike) carries its own BoringSSL: its LLM calls are not metered" "$OUT.err" \
	&& pass boringssl_named || fail boringssl_named "$(grep -i boringssl "$OUT.err" | tail -n 2)"
if [ -n "$gobin" ]; then
	wait "$gobin"
	grep -q "pid $gobin (go_llm_386, $GO386) uses a Go crypto/tls that cannot be probed: its LLM calls" "$OUT.err" \
		&& pass go_named || fail go_named "$(grep -i 'crypto/tls' "$OUT.err" | tail -n 2)"
else
	fail go_named "no 386 Go build to run ($GO386)"
fi
# (a chat request answered with no usage: metered with tollgate's count)
if [ "$(tg_json "$h2" status)" = 200 ]; then
	tg_check "$OUT" --quiet --match pid="$h2pid" --match model=gpt-h2 \
		--match usage_source=estimated --match capture=complete --expect-count 1 \
		&& pass http2_metered \
		|| fail http2_metered "$(tg_check "$OUT" --match pid="$h2pid" 2>&1 | tail -n 2)"
else
	fail http2_metered "the HTTP/2 client failed: $h2"
fi

# --- 4,200 distinct executables later, a new libssl is still probed ------
# (files without OpenSSL once filled the table of probe targets for good)
mkdir -p "$TG_TMP/bins" "$TG_TMP/lib"
for i in $(seq 1 4200); do cp /bin/true "$TG_TMP/bins/t$i"; done
for i in $(seq 1 4200); do "$TG_TMP/bins/t$i"; done
cp "$(readlink -f /lib/x86_64-linux-gnu/libssl.so.3)" "$TG_TMP/lib/libssl.so.3"
# (the first call may race the probe of a library first seen at its dlopen:
# a known gap; the second is after it)
out=$(LD_LIBRARY_PATH=$TG_TMP/lib "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model new-libssl \
	--repeat 2 --pause 0.5)
pid=$(tg_json "$out" pid)
tg_check "$OUT" --wait 10 --quiet --match pid="$pid" --match model=new-libssl --min-count 1 &&
	grep -q "OpenSSL found in $TG_TMP/lib/libssl.so.3" "$OUT.err" \
	&& pass new_libssl_after_many_binaries \
	|| fail new_libssl_after_many_binaries "$out / $(grep 'OpenSSL found' "$OUT.err" | tail -n 2)"
rm -rf "$TG_TMP/bins"

# --- bodies that decode to gigabytes stay under the memory bound ---------
tpid=$TG_TRACE_PID
before=$(awk '/^VmRSS/ { print $2 }' "/proc/$tpid/status")
"$TG_PY" "$TG_CLIENTS/py_flood.py" "$TG_URL" --conns 16 --mib 200 --hold 4 > "$TG_TMP/flood.out" &
flood=$!
for i in $(seq 1 100); do [ -s "$TG_TMP/flood.out" ] && break; sleep 0.1; done
sleep 1
kill -USR1 "$tpid"
sleep 0.5
peak=$(awk '/^VmHWM/ { print $2 }' "/proc/$tpid/status")
wait "$flood"
fpid=$(tg_json "$(cat "$TG_TMP/flood.out")" pid)
# 16 connections x 200 MiB decoded each: the agent's peak stays within the
# 16 MiB bound plus what it had before, give or take its codec buffers
if [ -n "$peak" ] && [ $((peak - before)) -lt $((64 * 1024)) ] &&
	tg_counters_hold "$OUT.err" memory.refused\>0 memory.peak\<=16777216 >/dev/null; then
	pass memory_bound_holds
else
	fail memory_bound_holds "RSS $before kB -> peak $peak kB; $(tg_counters_hold "$OUT.err" memory.refused\>0 memory.peak\<=16777216)"
fi
tg_check "$OUT" --wait 10 --quiet --match pid="$fpid" --match capture=cut_off --expect-count 16 \
	&& pass memory_bound_calls_metered \
	|| fail memory_bound_calls_metered "$(tg_check "$OUT" --match pid="$fpid" 2>&1 | tail -n 2)"

tg_trace_stop
[ "$TG_TRACE_RC" = 0 ] && pass hardening_exit_status || fail hardening_exit_status "exit $TG_TRACE_RC"
if why=$(tg_counters_hold "$OUT.err" connections.inferred_gaps=0 connections.stream_gaps=0 \
	connections.expired\>=1 http2.connections\>=1 connections.ignored_server_http2\>=1 \
	probes.targets_full=0 probes.negative_evictions\>=100 \
	unmetered.go_procs\>=1 unmetered.boringssl_procs\>=1 counters.ringbuf_drops=0); then
	pass hardening_counters
else
	fail hardening_counters "$(echo $why)"
fi
# log lines name files as the processes see them, not /proc paths
if grep -q '/proc/[0-9]\|/proc/self' "$OUT.err"; then
	fail logs_name_files "$(grep -m 2 '/proc/' "$OUT.err")"
else
	pass logs_name_files
fi
tg_no_secrets hardening_no_secrets "$OUT" "$OUT.err" "$TG_TMP/text.out" "$TG_TMP/text.out.err" \
	"$TG_TMP/head.out" "$TG_TMP/head.err" "$TG_TMP/small-ring.jsonl" "$TG_TMP/small-ring.jsonl.err"
tg_finish
