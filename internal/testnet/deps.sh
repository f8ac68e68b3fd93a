#!/usr/bin/env bash
# Installs the Debian tools the namespace labs use, if any is missing:
#   iproute2  `ip`: namespaces, veth, bridge, addresses, routes (required)
#   curl      a second HTTP client for demos and by-hand checks
#   nftables  `nft`, for tests that need a kernel packet filter
#   ethtool   offload inspection by hand (the lab itself uses the ioctl)
#   bird2     `bird`/`birdc`: the BGP router of the announcement lab (bird.go)
# Quiet and idempotent: does nothing when everything is there. Needs root.
set -euo pipefail

declare -A need=([ip]=iproute2 [curl]=curl [nft]=nftables [ethtool]=ethtool [bird]=bird2)
missing=()
for cmd in "${!need[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/sbin/$cmd" ] || missing+=("${need[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing ${missing[*]}; run as root to install" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Quiet on success; the whole output on failure.
if ! out=$(apt-get update -qq 2>&1 && apt-get install -y -qq --no-install-recommends "${missing[@]}" 2>&1); then
	printf '%s\n' "$out" >&2
	exit 1
fi
echo "deps.sh: installed ${missing[*]}"
