# Real AI-agent client stacks for tollgate's integration tests (bash): Bun's
# fetch (Bun 1.3 and 1.4), Claude Code (`claude -p`) and Codex (`codex
# exec`), the binaries of tests/node (npm ci, scripts/deps.sh), run offline
# against the test providers.  Source it after common.sh:
#
#	. "$(dirname "$0")/lib/common.sh"
#	. "$(dirname "$0")/lib/agents.sh"
#	why=$(tg_agents_check) || { skip agents "$why"; exit 0; }
#	tg_setup; tg_h2_start
#	export TG_AGENT_CGROUP=agents TG_AGENT_DELAY_MS=500
#	out=$(tg_bun 1.4 "$TG_URL" --path /v1/messages --stream)	# bun_fetch.js's line
#	out=$(tg_claude "say hi")			# {"pid", "rc", "text", ...}
#	out=$(tg_codex "$TG_H2_URL" "say hi")		# HTTP/2; "$TG_URL": HTTP/1.1
#	pid=$(tg_json "$out" pid)
#
# Each prints one JSON line with the pid of the process that makes the
# calls (the agent itself, not a wrapper) and returns the agent's exit
# code.  Every run is bounded by timeout(1): ${TG_AGENT_TIMEOUT:-60} s, then
# SIGTERM (SIGKILL 5 s later): exit code 124 (137), no hang.
#
# TG_AGENT_CGROUP=NAME runs the agent inside test cgroup NAME (tg_in_cgroup:
# the timeout process moves there before it execs, the agent and its
# children are born in it).  A shell function cannot be exec'd, so this is
# how these go into a cgroup rather than `tg_in_cgroup NAME tg_claude ...`.
#
# TG_AGENT_DELAY_MS=N holds the first request back N ms after the exec, so
# a tracer can attach its probes to a binary it has just seen: bun_fetch.js
# gets --delay-ms N; claude -p and codex exec get a stdin pipe that closes
# after N ms (both read stdin to its end before they send anything).
# Without it the first connection opens ~15 ms (Bun), ~200 ms (codex),
# ~450 ms (claude) after the exec.
#
# The agents are kept off the internet by their own settings (checked with
# strace in a network namespace with only loopback: one connect, to the
# provider, nothing else, no DNS query): see tg_claude and tg_codex.  They
# run with a clean environment (env -i) so a developer's ANTHROPIC_*,
# OPENAI_*, proxy or config variables cannot send them elsewhere.

TG_NODE_MODULES=${TG_NODE_MODULES:-$TG_TOP/tests/node/node_modules}
TG_AGENT_PATH=/usr/bin:/bin

# The binary of agent NAME (bun13, bun14, claude, codex).  The native
# binaries themselves, not the npm wrappers: claude-code's bin/claude.exe
# is a placeholder until its postinstall (node install.cjs, which npm 11
# may leave unrun) copies the native binary over it, and codex's
# bin/codex.js is a node launcher that would be the process in between.
tg_agent_bin() {
	case $1 in
	bun13|bun14) echo "$TG_NODE_MODULES/$1/bin/bun" ;;
	claude) echo "$TG_NODE_MODULES/@anthropic-ai/claude-code-linux-x64/claude" ;;
	codex) echo "$TG_NODE_MODULES/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex" ;;
	*) return 1 ;;
	esac
}

# Returns 0 if the agents NAME... (default: all four) are installed and
# run (`--version`), else prints why on one line and returns 1.
tg_agents_check() {
	local names=("$@") n bin why=
	[ ${#names[@]} -gt 0 ] || names=(bun13 bun14 claude codex)
	if [ "$(uname -m)" != x86_64 ]; then
		echo "the agents of tests/node are the linux-x64 builds (this is $(uname -m))"
		return 1
	fi
	for n in "${names[@]}"; do
		if ! bin=$(tg_agent_bin "$n"); then
			why="$why${why:+; }no agent named $n"
		elif [ ! -x "$bin" ]; then
			why="$why${why:+; }${bin#"$TG_TOP"/} is missing"
		elif ! timeout 20 env -i PATH="$TG_AGENT_PATH" HOME=/nonexistent "$bin" --version \
			>/dev/null 2>&1; then
			why="$why${why:+; }${bin#"$TG_TOP"/} --version fails"
		fi
	done
	[ -z "$why" ] && return 0
	case $why in *missing*) why="$why (scripts/deps.sh: npm ci in tests/node)" ;; esac
	echo "$why"
	return 1
}

# Run CMD... under timeout, inside $TG_AGENT_CGROUP when set; stdin is
# /dev/null, or a pipe that closes after DELAY-MS ms when it is > 0.
tg_agent_exec() {	# DELAY-MS CMD...
	local ms=${1:-0}; shift
	local run=(timeout -k 5 "${TG_AGENT_TIMEOUT:-60}" "$@")
	[ -n "${TG_AGENT_CGROUP:-}" ] && run=(tg_in_cgroup "$TG_AGENT_CGROUP" "${run[@]}")
	if [ "$ms" -gt 0 ] 2>/dev/null; then
		sleep "$(awk -v ms="$ms" 'BEGIN { print ms / 1000 }')" | ("${run[@]}")
	else
		("${run[@]}") < /dev/null
	fi
}

# One JSON line about an agent's run in DIR (tg_claude, tg_codex): pid (from
# DIR/pid), rc, text (the agent's answer), usage as the agent counted it
# (claude: with --output-format json; codex: always), error when rc != 0
# (codex's error event, claude's message, else the last line of stderr) and
# dir.
tg_agent_result() {	# KIND DIR RC
	"$TG_PY" - "$@" <<'PY'
import json, os, sys
kind, d, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
def read(name):
    try:
        with open(os.path.join(d, name), encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""
pid = read("pid").strip()
out = {"pid": int(pid) if pid.isdigit() else None, "rc": rc, "text": None, "dir": d}
error = None
if kind == "claude":
    text = read("out").strip()
    out["text"] = text
    try:	# --output-format json
        r = json.loads(text)
        if isinstance(r, dict) and "result" in r:
            out["text"], out["usage"] = r["result"], r.get("usage")
            out["models"] = sorted(r.get("modelUsage") or {})
    except ValueError:
        pass
    error = out["text"]	# claude -p prints its errors on stdout
else:	# codex exec --json -o last
    out["text"] = read("last").strip()
    for line in read("out").splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("type") == "turn.completed":
            out["usage"] = ev.get("usage")
        elif ev.get("type") == "error":
            error = ev.get("message")
if rc != 0:
    err = [l for l in read("err").splitlines() if l.strip()]
    out["error"] = error or (err[-1] if err else "exit %d" % rc)
print(json.dumps(out))
PY
}

# Bun VERSION (1.3 or 1.4) runs tests/integ/clients/bun_fetch.js ARGS...
# (node_fetch.js's options) in the caller's environment, which tg_setup
# gave NODE_EXTRA_CA_CERTS and SSL_CERT_FILE (Bun reads either).  Prints
# bun_fetch.js's JSON line.  --no-install: Bun never fetches a package.
tg_bun() {	# VERSION ARGS...
	local v=${1#bun} bin; shift
	case $v in 1.3|13) v=13 ;; 1.4|14) v=14 ;; *)
		echo "tg_bun: no Bun $v (1.3 or 1.4)" >&2; return 2 ;;
	esac
	bin=$(tg_agent_bin "bun$v")
	local delay=()
	[ "${TG_AGENT_DELAY_MS:-0}" -gt 0 ] 2>/dev/null && delay=(--delay-ms "$TG_AGENT_DELAY_MS")
	DO_NOT_TRACK=1 tg_agent_exec 0 "$bin" --no-install "$TG_CLIENTS/bun_fetch.js" "$@" "${delay[@]}"
}

# `claude -p PROMPT [ARGS...]` against $TG_URL (after tg_setup); ARGS go to
# claude (--model M, --output-format json, ...).  Its stdout and stderr go
# to DIR/out and DIR/err, DIR a new directory in $TG_TMP that is also its
# HOME and CLAUDE_CONFIG_DIR.  What claude 2.1.332 sends: one POST
# /v1/messages?beta=true, HTTP/1.1 (also to the HTTP/2 front: Bun's fetch
# offers no h2), "stream": true, model claude-opus-5-5 (its default for an
# API key), a ~48 KB body (system prompt, 12 tools).  The settings:
#   DISABLE_AUTOUPDATER, DISABLE_TELEMETRY, DISABLE_ERROR_REPORTING,
#   CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC   no update check, telemetry,
#       error reports or feature flags: without them it looks up internet
#       names (DNS) and sends HEAD $ANTHROPIC_BASE_URL/api/hello first
#   CLAUDE_CODE_MAX_RETRIES=0, CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK=1
#       one run is one call: a failed call is not retried, and a cut stream
#       is not asked again without streaming (it is otherwise)
# -p needs no tty and shows no onboarding or trust dialog.  The API key is
# $TG_TEST_KEY or sk-ant-test-0000000000.
tg_claude() {	# PROMPT [ARGS...]
	local prompt=$1; shift
	local d rc
	d=$(mktemp -d "$TG_TMP/claude.XXXXXX") || return 1
	mkdir -p "$d/home/.claude" "$d/work" "$d/tmp"
	(cd "$d/work" && tg_agent_exec "${TG_AGENT_DELAY_MS:-0}" sh -c 'echo $$ > "$0"; exec "$@"' "$d/pid" \
		env -i PATH="$TG_AGENT_PATH" HOME="$d/home" CLAUDE_CONFIG_DIR="$d/home/.claude" \
		TMPDIR="$d/tmp" LANG=C.UTF-8 TERM=dumb \
		ANTHROPIC_BASE_URL="$TG_URL" ANTHROPIC_API_KEY="${TG_TEST_KEY:-sk-ant-test-0000000000}" \
		NODE_EXTRA_CA_CERTS="$TG_CA" \
		DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1 \
		CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
		CLAUDE_CODE_MAX_RETRIES=0 CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK=1 \
		"$(tg_agent_bin claude)" -p "$prompt" "$@" > "$d/out" 2> "$d/err")
	rc=$?
	tg_agent_result claude "$d" "$rc"
	return $rc
}

# `codex exec PROMPT` against URL ($TG_URL: provider.py, HTTP/1.1 only;
# $TG_H2_URL: provider_h2.js, where codex takes h2 by ALPN); ARGS go to
# codex exec (-m MODEL, -c key=value, ...).  DIR (a new directory in
# $TG_TMP) holds CODEX_HOME with the config.toml below, HOME, the working
# directory, and out (--json events), last (-o: the answer), err.  What
# codex 0.171.0 sends: one POST /v1/responses, "stream": true, model
# gpt-6.2-sol (its default), a ~40 KB body.  The config:
#   model_provider "tollgate": base_url URL/v1, wire_api "responses",
#       env_key TG_CODEX_API_KEY ($TG_TEST_KEY or sk-test-codex-0000000000);
#       request_max_retries = stream_max_retries = 0: one run is one call
#       (a 429 is otherwise retried after its retry-after; a connection or
#       TLS failure is retried whatever these say, until the timeout)
#   check_for_update_on_startup, analytics, feedback, otel exporters,
#       features plugins and apps off: else it looks up api.github.com,
#       chatgpt.com, ab.chatgpt.com (OTLP metrics)
#   approval_policy never, sandbox_mode read-only, web_search disabled,
#       history none, features.shell_snapshot off (no login shell run)
# --strict-config makes a key this codex does not know an error;
# --ephemeral writes no session files; --skip-git-repo-check runs it
# outside a git checkout.  SSL_CERT_FILE=$TG_CA is the CA (codex's rustls).
tg_codex() {	# URL PROMPT [ARGS...]
	local url=${1%/} prompt=$2; shift 2
	local d rc
	d=$(mktemp -d "$TG_TMP/codex.XXXXXX") || return 1
	mkdir -p "$d/codex" "$d/home" "$d/work" "$d/tmp"
	cat > "$d/codex/config.toml" <<EOF
model_provider = "tollgate"
approval_policy = "never"
sandbox_mode = "read-only"
check_for_update_on_startup = false
web_search = "disabled"

[analytics]
enabled = false

[feedback]
enabled = false

[history]
persistence = "none"

[otel]
exporter = "none"
trace_exporter = "none"
metrics_exporter = "none"

[features]
plugins = false
apps = false
shell_snapshot = false

[model_providers.tollgate]
name = "tollgate test provider"
base_url = "$url/v1"
wire_api = "responses"
env_key = "TG_CODEX_API_KEY"
request_max_retries = 0
stream_max_retries = 0
EOF
	(cd "$d/work" && tg_agent_exec "${TG_AGENT_DELAY_MS:-0}" sh -c 'echo $$ > "$0"; exec "$@"' "$d/pid" \
		env -i PATH="$TG_AGENT_PATH" HOME="$d/home" CODEX_HOME="$d/codex" TMPDIR="$d/tmp" \
		LANG=C.UTF-8 TERM=dumb SSL_CERT_FILE="$TG_CA" \
		TG_CODEX_API_KEY="${TG_TEST_KEY:-sk-test-codex-0000000000}" \
		"$(tg_agent_bin codex)" exec --strict-config --skip-git-repo-check --ephemeral \
		--json -o "$d/last" "$@" "$prompt" > "$d/out" 2> "$d/err")
	rc=$?
	tg_agent_result codex "$d" "$rc"
	return $rc
}
