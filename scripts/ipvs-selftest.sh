#!/usr/bin/env bash
# A port of the Linux kernel's IPVS selftest
# (tools/testing/selftests/net/netfilter/ipvs.sh) with xvs in place of IPVS:
# the same three namespaces, links, sysctls and steps, one TCP transfer of
# 32 random bytes per forwarding mode (DR, NAT, TUN), compared byte for byte.
#
#   usage: ipvs-selftest.sh XVS XVSADM [BACKEND...]
#
# XVS and XVSADM are the paths of the two binaries; BACKEND is xdp and/or
# afpacket (default: both), so the three modes run once per backend. Prints
# one PASS or FAIL line per mode and backend and exits 1 if any failed. Needs
# root, iproute2, nftables (the AF_PACKET backend) and socat (scripts/deps.sh).
#
# The topology is the selftest's:
#
#   ns0 (client)              ns1 (director, xvs)          ns2 (real server)
#   br0 ─┬─ veth01 ────────── veth10          veth12 ───── veth21
#        └─ veth02 ─────────────────────────────────────── veth20
#
# veth01/veth02 are enslaved to br0, which holds the client's address; the
# real server answers the client directly over veth20 in DR and TUN; NAT
# deletes veth20 and routes the real server through the director.
#
# Where this port differs from the original, and why:
#   - Addresses come from 198.18.0.0/15 (the benchmarking range all xvs labs
#     use) instead of the selftest's 10/8, 172.16/12 and 207.175.44.110; they
#     live only inside this run's namespaces.
#   - Namespace names carry the script's PID, so parallel runs cannot clash,
#     and an EXIT/INT/TERM trap removes them (and stops the daemons) also
#     when a step fails.
#   - The director runs the xvs daemon on veth10 and veth12 with a private
#     control socket, and the services are added with xvsadm exactly as the
#     selftest calls ipvsadm; the ip_vs module check is gone.
#   - TUN: the kernels xvs is tested on have no ipip driver, so the real
#     server decapsulates with `xvs decap -i veth21` (xvs's XDP decapsulator)
#     and keeps the VIP on lo, where the selftest brings up tunl0; the
#     director's tunl0 (unused by IPVS's sender too) is left out.
#   - The client connects once the real server's socket listens, not after
#     a fixed 0.2 s, and the two socat processes get 20 s and 10 s instead
#     of 5 s and 2 s (see transfer).
#   - Each mode runs on a fresh set-up (the selftest cleans up and sets up
#     before each mode as well), once per backend.
# Offloads, MTUs and every sysctl the selftest does not set stay at the
# kernel's defaults.
set -uo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 XVS XVSADM [xdp|afpacket...]" >&2
	exit 2
fi
xvs=$(realpath "$1")
xvsadm=$(realpath "$2")
shift 2
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(xdp afpacket)
for tool in "$xvs" "$xvsadm"; do
	[ -x "$tool" ] || { echo "$tool: not an executable" >&2; exit 2; }
done
for tool in ip ss socat timeout cmp; do
	command -v "$tool" >/dev/null || { echo "$tool not found (scripts/deps.sh installs it)" >&2; exit 2; }
done

readonly port=8080
readonly vip=198.19.44.110  # the virtual service's address
readonly cip=198.18.10.2    # client, on br0
readonly gip=198.18.10.1    # director, veth10: the client's route to the VIP
readonly dip=198.18.11.1    # director, veth12: NAT's default gateway
readonly rip=198.18.11.2    # real server, veth21
readonly sip=198.18.10.3    # real server, veth20 (DR and TUN replies)
readonly datalen=32

work=$(mktemp -d "${TMPDIR:-/tmp}/xvs-ipvs-selftest.XXXXXX")
readonly work infile="$work/in" outfile="$work/out" sock="$work/xvs.sock" log="$work/xvs.log"
readonly ns0="xvsst$$-ns0" ns1="xvsst$$-ns1" ns2="xvsst$$-ns2"
export XVS_SOCKET="$sock"
daemon_pid=
server_pid=

in0() { ip netns exec "$ns0" "$@"; }
in1() { ip netns exec "$ns1" "$@"; }
in2() { ip netns exec "$ns2" "$@"; }

# teardown stops the daemon and removes the namespaces (their veths and
# bridge go with them); safe to call when only part was set up.
teardown() {
	if [ -n "$daemon_pid" ]; then
		kill -TERM "$daemon_pid" 2>/dev/null
		# Bounded: a daemon that ignores SIGTERM for 5 s is killed.
		for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
		daemon_pid=
	fi
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
		server_pid=
	fi
	for ns in "$ns0" "$ns1" "$ns2"; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -f "$outfile" "$sock"
}
trap 'teardown; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# A run killed with SIGKILL cannot clean up: remove the namespaces of runs
# whose shell is gone (the PID in the name is dead), and stop what still
# runs inside them (a daemon keeps its namespace, and its XDP program,
# alive). A live PID is left alone, even if it was reused.
for stale in $(ip netns list | grep -oE '^xvsst[0-9]+-ns[012]'); do
	pid=${stale#xvsst}
	pid=${pid%%-*}
	kill -0 "$pid" 2>/dev/null && continue
	for p in $(ip netns pids "$stale" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
	ip netns del "$stale" 2>/dev/null
done

# setup builds the three namespaces and their links as the selftest does and
# writes a fresh 32-byte payload.
setup() {
	ip netns add "$ns0" && ip netns add "$ns1" && ip netns add "$ns2" || return 1
	ip link add veth01 netns "$ns0" type veth peer name veth10 netns "$ns1" || return 1
	ip link add veth02 netns "$ns0" type veth peer name veth20 netns "$ns2" || return 1
	ip link add veth12 netns "$ns1" type veth peer name veth21 netns "$ns2" || return 1
	for ns in "$ns0" "$ns1" "$ns2"; do
		ip -n "$ns" link set lo up || return 1
	done

	in0 ip link set veth01 up &&
		in0 ip link set veth02 up &&
		in0 ip link add br0 type bridge &&
		in0 ip link set veth01 master br0 &&
		in0 ip link set veth02 master br0 &&
		in0 ip link set br0 up &&
		in0 ip addr add "$cip/24" dev br0 || return 1

	in1 ip link set veth10 up &&
		in1 ip addr add "$gip/24" dev veth10 &&
		in1 ip link set veth12 up &&
		in1 ip addr add "$dip/24" dev veth12 || return 1

	in2 ip link set veth21 up &&
		in2 ip addr add "$rip/24" dev veth21 &&
		in2 ip link set veth20 up &&
		in2 ip addr add "$sip/24" dev veth20 || return 1

	# The selftest waits a second here too: the bridge port has to leave
	# its listening state before it forwards.
	sleep 1
	dd if=/dev/urandom of="$infile" bs="$datalen" count=1 status=none
}

# start_director runs the daemon on the director's two interfaces and waits
# (at most 30 s) until it says it runs and xvsadm gets an answer from it.
start_director() {
	# Not through in1: a function run in the background is a subshell, and
	# its PID is not the daemon's. ip netns exec execs the command, so $!
	# is xvs itself.
	ip netns exec "$ns1" "$xvs" run -i veth10,veth12 --socket "$sock" --backend "$1" >"$log" 2>&1 &
	daemon_pid=$!
	local deadline=$((SECONDS + 30))
	while [ $SECONDS -lt $deadline ]; do
		if ! kill -0 "$daemon_pid" 2>/dev/null; then
			echo "xvs exited during start" >&2
			daemon_pid=
			return 1
		fi
		grep -qs "xvs running" "$log" && timeout 5 "$xvsadm" -Ln >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "xvs did not answer on $sock within 30 s" >&2
	return 1
}

# adm runs xvsadm (the director's admin tool; it reaches the daemon over the
# socket, so it needs no namespace), bounded like every other step.
adm() { timeout 5 "$xvsadm" "$@"; }

# transfer is the selftest's test_service: a socat listener on the real
# server, a socat client sending the payload to the VIP, and the received
# bytes compared with the sent ones. The selftest bounds them by 5 s and 2 s;
# here 20 s and 10 s: on a loaded machine (2 cores shared by many test runs,
# load average over 100) starting the two processes alone took more than
# 5 s, the listener gave up before the client connected, and the run failed
# for reasons that have nothing to do with the director. The bounds only
# stop a hang; a lost packet still fails the run (the client does not
# retransmit a payload to a listener that has gone).
transfer() {
	ip netns exec "$ns2" timeout 20 socat -u -4 TCP-LISTEN:$port,reuseaddr STDOUT >"$outfile" &
	server_pid=$!
	# The selftest sleeps 0.2 s and hopes the listener is up; on a loaded
	# machine it may not be, the SYN meets a closed port and the client
	# gets a reset that says nothing about the director. Wait (at most
	# 10 s) until the socket listens instead.
	for _ in $(seq 100); do
		in2 ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && break
		sleep 0.1
	done
	in0 timeout 10 socat -u -4 STDIN TCP:"$vip":$port <"$infile"
	local client=$?
	wait "$server_pid"
	local server=$?
	server_pid=
	cmp -s "$infile" "$outfile" && return 0
	# Say which side gave up: 124 is timeout's "timed out".
	echo "transfer: client exit $client, server exit $server, $(wc -c <"$outfile") of $datalen bytes received" >&2
	return 1
}

test_dr() {
	in0 ip route add "$vip" via "$gip" dev br0 || return 1

	in1 sysctl -qw net.ipv4.ip_forward=1 || return 1
	start_director "$1" || return 1
	adm -A -t "$vip:$port" -s rr || return 1
	adm -a -t "$vip:$port" -r "$rip:$port" || return 1
	in1 ip addr add "$vip/32" dev lo label lo:1 || return 1

	# The real server must not answer ARP for the VIP it holds on lo ...
	in2 sysctl -qw net.ipv4.conf.all.arp_ignore=1 &&
		in2 sysctl -qw net.ipv4.conf.all.arp_announce=2 || return 1
	# ... nor drop the VIP's packets for arriving on another interface.
	in2 sysctl -qw net.ipv4.conf.all.rp_filter=0 &&
		in2 sysctl -qw net.ipv4.conf.veth21.rp_filter=0 || return 1
	in2 ip addr add "$vip/32" dev lo label lo:1 || return 1

	transfer
}

test_nat() {
	in0 ip route add "$vip" via "$gip" dev br0 || return 1

	in1 sysctl -qw net.ipv4.ip_forward=1 || return 1
	start_director "$1" || return 1
	adm -A -t "$vip:$port" -s rr || return 1
	adm -a -m -t "$vip:$port" -r "$rip:$port" || return 1
	in1 ip addr add "$vip/32" dev lo label lo:1 || return 1

	# The reply path is through the director only.
	in2 ip link del veth20 || return 1
	in2 ip route add default via "$dip" dev veth21 || return 1

	transfer
}

test_tun() {
	in0 ip route add "$vip" via "$gip" dev br0 || return 1

	in1 sysctl -qw net.ipv4.ip_forward=0 &&
		in1 sysctl -qw net.ipv4.conf.all.send_redirects=0 &&
		in1 sysctl -qw net.ipv4.conf.default.send_redirects=0 || return 1
	start_director "$1" || return 1
	adm -A -t "$vip:$port" -s rr || return 1
	adm -a -i -t "$vip:$port" -r "$rip:$port" || return 1
	in1 ip addr add "$vip/32" dev lo label lo:1 || return 1

	in2 sysctl -qw net.ipv4.conf.all.arp_ignore=1 &&
		in2 sysctl -qw net.ipv4.conf.all.arp_announce=2 &&
		in2 sysctl -qw net.ipv4.conf.all.rp_filter=0 &&
		in2 sysctl -qw net.ipv4.conf.veth21.rp_filter=0 || return 1
	in2 ip addr add "$vip/32" dev lo label lo:1 || return 1
	# In place of tunl0: the XDP decapsulator on the tunnel's interface
	# (attached after the VIP is added, since it learns the local
	# addresses when it attaches).
	in2 timeout 10 "$xvs" decap -i veth21 || return 1

	transfer
}

failed=0
for backend in "${backends[@]}"; do
	for mode in dr nat tun; do
		teardown
		if setup && "test_$mode" "$backend"; then
			echo "PASS: ${mode^^} (--backend $backend)"
		else
			echo "FAIL: ${mode^^} (--backend $backend)"
			failed=1
			if [ -s "$log" ]; then
				echo "--- xvs output ---"
				cat "$log"
				echo "--- xvsadm -Ln --stats ---"
				adm -Ln --stats 2>&1
			fi
		fi
		# Stop the daemon before the next set-up reuses the socket path.
		teardown
		rm -f "$log"
	done
done
exit $failed
