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
# The bench's tcpload rows: ab's HTTP load and iperf3's bulk TCP through the
# VIP, against nginx on the real servers (the bench runs its own nginx and
# iperf3 -s in lab namespaces, never the packages' services).
command -v ab >/dev/null         || need+=(apache2-utils)
command -v iperf3 >/dev/null     || need+=(iperf3)
web=""
command -v nginx >/dev/null      || web=nginx
if [ ${#need[@]} -gt 0 ] || [ -n "$web" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get -qq update >/dev/null
	if [ -n "$web" ]; then
		# nginx-light where Debian has it (bookworm), else plain nginx.
		if apt-cache show nginx-light >/dev/null 2>&1; then need+=(nginx-light); else need+=(nginx); fi
	fi
	echo "deps: installing ${need[*]}"
	apt-get -qq -y install --no-install-recommends "${need[@]}" >/dev/null
fi
