#!/usr/bin/env bash
# Installs what the benchmark harness needs from Debian, if missing: nft (the
# nftables DNAT baseline), taskset (pinning) and, optionally, perf (profiles
# of xvs when it misses a target; without it the report says why there is
# none). Idempotent and quiet; needs root, like the bench itself. xvs-bench
# runs it by itself when nft or taskset is missing.
set -euo pipefail
need=()
command -v ip >/dev/null      || need+=(iproute2)
command -v nft >/dev/null     || need+=(nftables)
command -v taskset >/dev/null || need+=(util-linux)
optional=()
command -v perf >/dev/null    || optional+=(linux-perf)
if [ ${#need[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ]; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -qq update >/dev/null
if [ ${#need[@]} -gt 0 ]; then
	echo "bench deps: installing ${need[*]}"
	apt-get -qq -y install --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ${#optional[@]} -gt 0 ]; then
	apt-get -qq -y install --no-install-recommends "${optional[@]}" >/dev/null 2>&1 ||
		echo "bench deps: ${optional[*]} not installable; xvs profiles will be skipped"
fi
