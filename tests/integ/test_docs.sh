#!/bin/bash
# The operator's documents agree with the binary: doc/tollgate.8 (mdoc)
# formats without a warning (groff, man, mandoc -Tlint when installed),
# documents every command of `tollgate help` and every option of each
# `tollgate CMD --help`, and no other, names the defaults (paths, addresses)
# the --help texts name, and every variable the sources getenv() under
# ENVIRONMENT; deploy/bash-completion/tollgate loads with and without
# bash-completion, completes the commands, each command's long options
# (exactly its --help's), files, pids and fixed values.  No BPF, no root
# needed; a few seconds.  Prints PASS/FAIL/SKIP lines; exits 0 unless it
# crashed.
#
# The man page is read from its source: a command is a `.Ss CMD [SUB]` of
# COMMANDS, its options the `Fl` of that subsection's `.It` lines, plus the
# `Fl` of its SYNOPSIS entry (`.Nm` then `.Cm CMD [SUB]`).
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
BIN=${TG_BIN:-$BUILD/tollgate}
MAN=doc/tollgate.8
COMP=deploy/bash-completion/tollgate
BASH_COMPLETION=${BASH_COMPLETION:-/usr/share/bash-completion/bash_completion}
TMP=$(mktemp -d /tmp/tollgate-docs.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: ${2:-failed}"; }
skip() { echo "SKIP $1: ${2:-skipped}"; }
# One line of text: for a FAIL line.
oneline() { tr '\n' ' ' | sed -e 's/  */ /g' -e 's/ $//' | cut -c1-300; }
# Words of $1 not in $2 (both whitespace-separated), one line.
minus() { comm -23 <(tr ' ' '\n' <<< "$1" | sed '/^$/d' | sort -u) \
		   <(tr ' ' '\n' <<< "$2" | sed '/^$/d' | sort -u) | tr '\n' ' ' | sed 's/ $//'; }
sorted() { tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//'; }

have_bin=1
if [ ! -x "$BIN" ]; then
	have_bin=0
	fail docs_binary "$BIN is missing (make)"
fi
if [ ! -f "$MAN" ] || [ ! -f "$COMP" ]; then
	fail docs_files "$MAN or $COMP is missing"
	exit 0
fi

# --- the binary's side ------------------------------------------------------------

# The commands `tollgate help` lists.
help_commands() {
	"$BIN" help 2> /dev/null | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }' |
		sorted
}

# Options of a --help text (stdin): the leading ones of its option lines
# ("  -p, --policy FILE  ..."), or with $1 = usage those of its usage block
# (from "usage:" to the first blank line).
help_options() {
	awk -v usage="${1:-}" '
	/^[Uu]sage:/ { u = 1 }
	u && /^[ \t]*$/ { u = 0 }
	u && usage {
		s = $0
		while (match(s, /--[a-z0-9][a-z0-9-]*/)) { print substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH) }
		s = " " $0 " "
		while (match(s, /[[ |]-[A-Za-z0-9][] |]/)) { print substr(s, RSTART + 1, 2); s = substr(s, RSTART + 3) }
	}
	!u && !usage && match($0, /^ +-/) && RLENGTH <= 7 {
		s = substr($0, RLENGTH)
		if (match(s, /^-[A-Za-z0-9]/)) { print substr(s, 1, 2); s = substr(s, 3); sub(/^, /, "", s) }
		if (match(s, /^--[a-z0-9][a-z0-9-]*/)) print substr(s, 1, RLENGTH)
	}' | sorted
}

# --help of a key ("run", "policy check"): into $help, $help_rc (cached).
declare -A HELP HELP_RC
get_help() {
	local -a w

	if [ -z "${HELP_RC[$1]:-}" ]; then
		read -r -a w <<< "$1"
		HELP[$1]=$("$BIN" "${w[@]}" --help 2> "$TMP/help.err")
		HELP_RC[$1]=$?
		[ "${HELP_RC[$1]}" = 0 ] || HELP[$1]=$(cat "$TMP/help.err")
	fi
	help=${HELP[$1]}
	help_rc=${HELP_RC[$1]}
}

# --- the man page's side ------------------------------------------------------------

# Keys of the COMMANDS subsections, one a line ("run", "policy check").
man_keys() {
	awk '/^\.Sh / { on = ($0 == ".Sh COMMANDS"); next } on && /^\.Ss / { sub(/^\.Ss /, ""); print }' "$MAN"
}

# Options (-x, --xxx) of the Fl macros on stdin's lines.
fl_options() {
	awk '{
		n = split($0, w, /[ \t]+/)
		for (i = 1; i < n; i++)
			if ((w[i] == "Fl" || w[i] == ".Fl") && w[i + 1] ~ /^-?[A-Za-z0-9]/) {
				o = w[i + 1]; sub(/[,;:.]$/, "", o); print "-" o
			}
	}' | sorted
}

# The .It lines of a key's subsection.
man_items() {
	awk -v key="$1" '
	/^\.Sh / { sh = $0; on = 0; next }
	/^\.Ss / { t = $0; sub(/^\.Ss /, "", t); on = (sh == ".Sh COMMANDS" && t == key); next }
	on && /^\.It / { print }' "$MAN"
}

# The SYNOPSIS entries of a key.
man_synopsis() {
	awk -v key="$1" '
	/^\.Sh / { on = ($0 == ".Sh SYNOPSIS"); next }
	!on { next }
	/^\.Nm/ { want = 0; cm = 1; next }
	cm && /^\.Cm / { t = $0; sub(/^\.Cm /, "", t); want = (t == key); cm = 0 }
	{ cm = 0 }
	want { print }' "$MAN"
}

# --- groff, man, mandoc ----------------------------------------------------------------

if ! command -v groff > /dev/null; then
	skip man_groff_clean "groff not installed (Debian package groff-base)"
else
	bad=
	devs=
	for dev in utf8 ps html; do
		# a device this groff lacks (html needs the package groff) is not checked
		groff -T"$dev" -z < /dev/null > /dev/null 2>&1 || continue
		devs="$devs $dev"
		out=$(groff -ww -mdoc -T"$dev" -z "$MAN" 2>&1 > /dev/null)
		rc=$?
		[ $rc = 0 ] && [ -z "$out" ] || bad="$bad -T$dev (exit $rc): $(oneline <<< "$out")"
	done
	if [ -n "$bad" ]; then fail man_groff_clean "groff -ww -mdoc$bad"
	elif [ -z "$devs" ]; then fail man_groff_clean "no groff device works"
	else pass man_groff_clean
	fi
fi

# Source conventions: no blank line, no trailing white space, the sections.
bad=
grep -n '^[[:space:]]*$' "$MAN" > "$TMP/blank" && bad="$bad blank lines at $(cut -d: -f1 "$TMP/blank" | head -5 | oneline);"
grep -n '[[:space:]]$' "$MAN" > "$TMP/trail" && bad="$bad trailing white space at $(cut -d: -f1 "$TMP/trail" | head -5 | oneline);"
for sh in NAME SYNOPSIS DESCRIPTION COMMANDS POLICY SIGNALS ENVIRONMENT FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
	grep -qx "\.Sh $sh" "$MAN" || bad="$bad no section $sh;"
done
if [ -z "$bad" ]; then pass man_source_style; else fail man_source_style "$bad"; fi

rendered=
if ! command -v man > /dev/null; then
	skip man_renders "man not installed (Debian package man-db)"
else
	rendered=$(MANWIDTH=80 MANPAGER=cat PAGER=cat MANOPT='' man -P cat -l "$MAN" 2> "$TMP/man.err")
	rc=$?
	bad=
	[ $rc = 0 ] || bad="$bad exit $rc;"
	[ -s "$TMP/man.err" ] && bad="$bad stderr: $(oneline < "$TMP/man.err");"
	grep -qx 'NAME' <<< "$rendered" || bad="$bad no NAME;"
	want=$(man_keys)
	[ $have_bin = 1 ] && want="$want"$'\n'"$(help_commands | tr ' ' '\n')"
	while read -r k; do
		[ -n "$k" ] || continue
		# a command's heading, "   run" or "   policy check"
		grep -qE "^   $k( |\$)" <<< "$rendered" || bad="$bad no heading '$k';"
	done <<< "$want"
	if [ -z "$bad" ]; then pass man_renders; else fail man_renders "$bad"; fi
fi

if ! command -v mandoc > /dev/null; then
	skip man_lint "mandoc not installed (Debian package mandoc)"
else
	out=$(mandoc -Tlint -W warning "$MAN" 2>&1)
	rc=$?
	if [ $rc = 0 ] && [ -z "$out" ]; then pass man_lint
	else fail man_lint "mandoc -Tlint -W warning (exit $rc): $(oneline <<< "$out")"
	fi
fi

# --- the man page against --help ---------------------------------------------------

# The man page's keys, then the commands of `tollgate help` it lacks, once.
all_keys() { { man_keys; [ $have_bin = 1 ] && help_commands | tr ' ' '\n'; } | awk 'NF && !seen[$0]++'; }
keys=$(man_keys)
if [ $have_bin = 1 ]; then
	cmds=$(help_commands)
	mancmds=$(cut -d' ' -f1 <<< "$keys" | sorted)
	only_man=$(minus "$mancmds" "$cmds")
	only_help=$(minus "$cmds" "$mancmds")
	if [ -z "$cmds" ]; then
		fail help_man_commands "'tollgate help' lists no command"
	elif [ -z "$only_man$only_help" ]; then
		pass help_man_commands
	else
		fail help_man_commands "not in 'tollgate help': ${only_man:-none}; not in the man page: ${only_help:-none}"
	fi
	# a command the man page lacks is a key of its own, with no subsection
	for c in $only_help; do keys="$keys"$'\n'"$c"; done

	paths=
	while read -r k; do
		[ -n "$k" ] || continue
		name=help_man_agree_${k// /_}
		get_help "$k"
		if [ "$help_rc" != 0 ]; then
			fail "$name" "'tollgate $k --help' exited $help_rc: $(oneline <<< "$help")"
			continue
		fi
		paths="$paths $(grep -oE '(/(etc|var|run|usr)/[A-Za-z0-9._/-]*[A-Za-z0-9_/]|127\.0\.0\.1:[0-9]+)' <<< "$help")"
		hopts=$(help_options <<< "$help")
		uopts=$(help_options usage <<< "$help")
		items=$(man_items "$k" | fl_options)
		synopsis=$(man_synopsis "$k" | fl_options)
		# the usage lines may show a sub-command's options (prices import -o)
		family=$(while read -r f; do
			[ "${f%% *}" = "${k%% *}" ] && { man_items "$f"; man_synopsis "$f"; }
		done <<< "$(man_keys)" | fl_options)
		bad=
		if ! grep -qx "$k" <<< "$(man_keys)"; then
			bad=" no subsection '.Ss $k' in COMMANDS;"
		else
			m=$(minus "$hopts" "$items")
			[ -z "$m" ] || bad="$bad in --help, not in the man page's option list: $m;"
			m=$(minus "$items" "$hopts")
			[ -z "$m" ] || bad="$bad in the man page's option list, not in --help: $m;"
			m=$(minus "$synopsis" "$hopts")
			[ -z "$m" ] || bad="$bad in the SYNOPSIS, not in --help: $m;"
			m=$(minus "$uopts" "$family")
			[ -z "$m" ] || bad="$bad in the usage of --help, not in the man page: $m;"
			[ -n "$(man_synopsis "$k")" ] || bad="$bad no SYNOPSIS entry;"
		fi
		if [ -z "$bad" ]; then pass "$name"; else fail "$name" "$bad"; fi
	done <<< "$keys"

	# Defaults the --help texts name (paths, addresses) are the man page's.
	bad=
	for p in $(sorted <<< "$paths"); do
		grep -qF -- "${p%/}" "$MAN" || bad="$bad $p"
	done
	if [ -z "$bad" ]; then pass help_man_defaults
	else fail help_man_defaults "named by --help, not in the man page:$bad"
	fi
else
	fail help_man_commands "no $BIN"
fi

# Every variable the sources read is under ENVIRONMENT.
vars=$(grep -rhoE '(secure_)?getenv\("[A-Za-z0-9_]+"\)' user 2> /dev/null | sed -E 's/.*\("([^"]+)"\)/\1/' | sorted)
envsec=$(awk '/^\.Sh / { on = ($0 == ".Sh ENVIRONMENT"); next } on && /^\.It Ev / { print $3 }' "$MAN" | sorted)
if [ -z "$vars" ]; then
	skip man_environment "no getenv() found under user/"
else
	m=$(minus "$vars" "$envsec")
	n=$(minus "$envsec" "$vars")
	if [ -z "$m$n" ]; then pass man_environment
	else fail man_environment "read by the code, not under ENVIRONMENT: ${m:-none}; under ENVIRONMENT, read by no getenv(): ${n:-none}"
	fi
fi

# --- bash completion ------------------------------------------------------------------

# Queries for the completion function, one a line: ID|CUR|WORDS BEFORE IT.
# The driver answers "ID<TAB>the replies, sorted".
mkdir -p "$TMP/files/sub"
: > "$TMP/files/a.yaml"
: > "$TMP/files/b.txt"
queries=$TMP/queries
{
	echo "commands||tollgate"
	while read -r k; do
		[ -n "$k" ] && echo "opts:$k|--|tollgate $k"
	done <<< "$(all_keys)"
	echo "v:trace --format||tollgate trace --format"
	echo "v:trace -f j|j|tollgate trace -f"
	echo "v:report --format||tollgate report --format"
	echo "v:report --by||tollgate report --by"
	echo "v:report --by team,pro|team,pro|tollgate report --by"
	echo "v:tokenize --encoding||tollgate tokenize --encoding"
	echo "v:run --metrics||tollgate run --metrics"
	echo "v:policy||tollgate policy"
	echo "v:prices||tollgate prices"
	echo "f:run --policy|$TMP/files/|tollgate run --policy"
	echo "f:policy check|$TMP/files/|tollgate policy check"
	echo "f:run --events|$TMP/files/b|tollgate run --events"
	echo "f:run --db|$TMP/files/b|tollgate run --db"
	echo "p:probes||tollgate probes"
} > "$queries"

# shellcheck disable=SC2016 # expanded by the bash that runs it
driver='
while IFS= read -r line; do
	id=${line%%|*}; rest=${line#*|}; cur=${rest%%|*}; read -r -a w <<< "${rest#*|}"
	(
		COMP_WORDS=("${w[@]}" "$cur")
		COMP_CWORD=${#w[@]}
		COMP_LINE="${COMP_WORDS[*]}"
		COMP_POINT=${#COMP_LINE}
		COMP_TYPE=9
		COMPREPLY=()
		_tollgate tollgate "$cur" "${w[${#w[@]} - 1]}"
		printf "%s\t%s\n" "$id" "$(printf "%s\n" "${COMPREPLY[@]}" | sed "/^\$/d" | sort -u | tr "\n" " ")"
	)
done'

# $1: mode ("" or "_bashcomp"), $2: what to source first.
completion_checks() {
	local mode=$1 pre=$2 out rc got want k id v bad

	out=$(bash --norc --noprofile -c "$pre source '$COMP' && complete -p tollgate" 2> "$TMP/load.err")
	rc=$?
	if [ $rc = 0 ] && [ ! -s "$TMP/load.err" ] && [[ $out == *"-F _tollgate tollgate"* ]]; then
		pass "completion_loads$mode"
	else
		fail "completion_loads$mode" "exit $rc, $(oneline <<< "$out") $(oneline < "$TMP/load.err")"
		return
	fi
	bash --norc --noprofile -c "$pre source '$COMP'; $driver" < "$queries" > "$TMP/replies" 2> "$TMP/replies.err"
	rc=$?
	if [ $rc != 0 ] || [ -s "$TMP/replies.err" ]; then
		fail "completion_run$mode" "exit $rc: $(oneline < "$TMP/replies.err")"
	fi
	reply() { awk -F '\t' -v id="$1" '$1 == id { print $2 }' "$TMP/replies" | sorted; }

	if [ $have_bin = 1 ]; then
		got=$(reply commands)
		want=$(help_commands)
		if [ "$got" = "$want" ]; then pass "completion_commands$mode"
		else fail "completion_commands$mode" "completed, not in 'tollgate help': $(minus "$got" "$want"); in 'tollgate help', not completed: $(minus "$want" "$got")"
		fi
	fi

	while read -r k; do
		[ -n "$k" ] || continue
		id="completion_options_${k// /_}$mode"
		if [ $have_bin = 0 ]; then fail "$id" "no $BIN"; continue; fi
		get_help "$k"
		if [ "$help_rc" != 0 ]; then
			fail "$id" "'tollgate $k --help' exited $help_rc: $(oneline <<< "$help")"
			continue
		fi
		want=$(help_options <<< "$help" | tr ' ' '\n' | grep '^--' | sorted)
		got=$(reply "opts:$k")
		if [ "$got" = "$want" ]; then pass "$id"
		else fail "$id" "'tollgate $k --' completes to '$got'; --help lists '$want'"
		fi
	done <<< "$(all_keys)"

	# fixed values, each also named by the command's --help
	bad=
	while IFS='|' read -r id want helpkey; do
		got=$(reply "$id")
		[ "$got" = "$(sorted <<< "$want")" ] || bad="$bad '$id' gives '$got', not '$want';"
		if [ -n "$helpkey" ] && [ $have_bin = 1 ]; then
			get_help "$helpkey"
			for v in $want; do
				v=${v##*,}
				grep -qw -- "$v" <<< "$help" || bad="$bad '$v' ($id) is not in 'tollgate $helpkey --help';"
			done
		fi
	done <<-EOF
	v:trace --format|text jsonl|trace
	v:trace -f j|jsonl|trace
	v:report --format|table json csv|report
	v:report --by|team model provider cgroup process key day hour|report
	v:report --by team,pro|team,process team,provider|report
	v:tokenize --encoding|o200k_base cl100k_base|tokenize
	v:run --metrics|off|run
	v:policy|check|policy
	v:prices|import|prices
	EOF
	if [ -z "$bad" ]; then pass "completion_values$mode"; else fail "completion_values$mode" "$bad"; fi

	bad=
	got=" $(reply "f:run --policy") "
	[[ $got == *" $TMP/files/a.yaml "* && $got != *"b.txt"* ]] || bad="$bad run --policy: '$got';"
	got=" $(reply "f:policy check") "
	[[ $got == *" $TMP/files/a.yaml "* && $got != *"b.txt"* ]] || bad="$bad policy check FILE: '$got';"
	got=$(reply "f:run --events")
	[ "$got" = "$TMP/files/b.txt" ] || bad="$bad run --events: '$got';"
	got=$(reply "f:run --db")
	[ "$got" = "$TMP/files/b.txt" ] || bad="$bad run --db: '$got';"
	if [ -z "$bad" ]; then pass "completion_files$mode"; else fail "completion_files$mode" "$bad"; fi

	got=" $(reply "p:probes") "
	if [[ $got == *" 1 "* && $got == *" $$ "* ]]; then pass "completion_pids$mode"
	else fail "completion_pids$mode" "tollgate probes completes to '$(cut -c1-80 <<< "$got")'"
	fi
}

completion_checks "" ""
if [ -f "$BASH_COMPLETION" ] && [ -r "$BASH_COMPLETION" ]; then
	completion_checks _bashcomp "source '$BASH_COMPLETION';"
else
	skip completion_bashcomp "$BASH_COMPLETION not installed (Debian package bash-completion)"
fi
exit 0
