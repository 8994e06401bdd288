#!/bin/sh
# Install what tollgate needs to build, run and test, when it is missing:
# Debian packages (named on the command line) and the npm packages the
# integration tests and tokenizer conformance tests use (tests/node).
set -eu

missing=""
for p in "$@"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
# Debian's nodejs ships npm separately; another nodejs build may bundle it.
if command -v npm >/dev/null 2>&1; then
	missing=$(echo "$missing" | tr ' ' '\n' | grep -vx npm | tr '\n' ' ')
	command -v node >/dev/null 2>&1 && missing=$(echo "$missing" | tr ' ' '\n' | grep -vx nodejs | tr '\n' ' ')
fi
missing=$(echo "$missing" | xargs)
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing Debian packages: $missing (run as root)" >&2
		exit 1
	fi
	echo "deps: installing $missing"
	apt-get update -qq
	# No recommends: only what is named (prometheus, for promtool, would
	# otherwise bring exporters that listen on the network).
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

top=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$top/tests/node/package.json" ]; then
	cd "$top/tests/node"
	if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
		echo "deps: npm packages for the tests"
		npm ci --no-audit --no-fund --loglevel=error
		touch node_modules
	fi
fi
