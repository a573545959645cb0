#!/bin/sh
# deps.sh - install the Debian packages Cairn needs that are missing, and
# nothing else. Safe to run repeatedly; used by `make run` and `make test`.
set -eu

PKGS="build-essential cmake pkg-config libjansson-dev liblz4-dev libzstd-dev libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libpq-dev curl python3 b3sum"
# `deps.sh test`: also the real S3 clients the S3 front is tested with
if [ "${1:-}" = test ]; then
	PKGS="$PKGS awscli python3-boto3 rclone s3cmd"
	# and what the Python package's tests run on (python/tests)
	PKGS="$PKGS python3-pytest python3-fsspec python3-pip"
	# and the browser the web pages are tested in (tests/web)
	PKGS="$PKGS chromium chromium-driver"
	# and the PostgreSQL server the metadata tests start a private instance of (tests/pg)
	PKGS="$PKGS postgresql"
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# Node and npm run xet-core's reference build in the tests; any install of
# them will do (some machines carry NodeSource's nodejs, which bundles npm
# and conflicts with Debian's npm package).
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "deps: need root (or sudo) to install:$missing" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
