#!/usr/bin/env bash
# Installs the Debian tools xvs's tests, demo and benchmarks use, if missing.
# Idempotent and quiet; needs root (CI and the lab run as root).
set -euo pipefail
need=()
command -v ip >/dev/null       || need+=(iproute2)
command -v nft >/dev/null      || need+=(nftables)
command -v ethtool >/dev/null  || need+=(ethtool)
command -v curl >/dev/null     || need+=(curl)
command -v socat >/dev/null    || need+=(socat)
command -v tshark >/dev/null   || need+=(tshark) # decodes GUE/GRE frames in encap tests
command -v keepalived >/dev/null || need+=(keepalived) # the VRRP peer of vrrp's interop test
command -v bird >/dev/null       || need+=(bird2)      # the BGP router of the announcement lab (birdc too)
if [ ${#need[@]} -gt 0 ]; then
	echo "deps: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -qq update >/dev/null
	apt-get -qq -y install --no-install-recommends "${need[@]}" >/dev/null
fi
