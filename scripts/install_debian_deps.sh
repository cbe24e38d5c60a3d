#!/usr/bin/env bash
# Install the Debian (bookworm) packages the test suite needs, if missing.
#
#   clickhouse-server clickhouse-client  real ClickHouse 18.16 for integration tests
#   chromium chromium-driver             headless browser tests
#   fonts-noto-cjk                       Chinese glyphs in screenshots and PDFs
#   poppler-utils                        pdftotext/pdfinfo to check generated PDFs
#   redis-server                         the shared query cache across workers (JINJIAN_CACHE_URL)
#   zookeeper                            coordination of replicated tables (tests/test_replicas.py)
#
# Idempotent: only missing packages are installed, and `apt-get update` runs
# only when something is missing. Runs as root, or via sudo when available.
#
# The tests never use a system ClickHouse service: tests/chserver.py starts its
# own server on free loopback ports (tests/test_cache.py does the same with redis-server, tests/zkserver.py with ZooKeeper). So that installing clickhouse-server does
# not leave a daemon on 9000/8123, service start-up is denied during the install
# (temporary /usr/sbin/policy-rc.d, the standard Debian mechanism) and, on a
# systemd machine, the freshly installed unit is disabled.
set -euo pipefail

PACKAGES=(clickhouse-server clickhouse-client chromium chromium-driver fonts-noto-cjk poppler-utils redis-server
          zookeeper)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install_debian_deps: all present (${PACKAGES[*]})"
    exit 0
fi

if [[ $EUID -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install_debian_deps: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
fi

policy=/usr/sbin/policy-rc.d
own_policy=0
cleanup() {
    if [[ $own_policy -eq 1 ]]; then
        "${SUDO[@]}" rm -f "$policy"
    fi
}
trap cleanup EXIT

if [[ ! -e "$policy" ]]; then
    # exit 101 = "action forbidden": invoke-rc.d/deb-systemd-invoke skip starting services.
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    own_policy=1
fi

"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

for svc in clickhouse-server redis-server zookeeper; do
    if [[ " ${missing[*]} " == *" $svc "* && -d /run/systemd/system ]]; then
        "${SUDO[@]}" systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
    fi
done

echo "install_debian_deps: installed ${missing[*]}"
