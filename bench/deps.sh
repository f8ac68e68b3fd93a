#!/usr/bin/env bash
# Installs what the benchmark harness needs from Debian, if missing:
# nft (the nftables DNAT baseline) and perf (profiles of xvs when it misses a
# target; optional). Idempotent and quiet; needs root, like the bench itself.
set -euo pipefail
need=()
command -v ip >/dev/null      || need+=(iproute2)
command -v nft >/dev/null     || need+=(nftables)
command -v taskset >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
	echo "bench deps: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -qq update >/dev/null
	apt-get -qq -y install --no-install-recommends "${need[@]}" >/dev/null
fi
# perf is optional: without it the report says why there is no profile.
if ! command -v perf >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get -qq -y install --no-install-recommends linux-perf >/dev/null 2>&1 ||
		echo "bench deps: linux-perf not installable; profiles will be skipped"
fi
