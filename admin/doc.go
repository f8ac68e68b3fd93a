// Package admin owns xvsadm's language: ipvsadm 1.31's command lines, its
// messages and its listings, so an LVS operator can paste the commands and
// rule files they already have and read the output they already read.
//
// Parse turns an argv into a Command, with ipvsadm's defaults (scheduler wlc,
// -p of 300 s, weight 1, direct routing) and its exact error messages
// (*SyntaxError). Command.Change turns a config-changing command into a
// control.Change, which the daemon applies atomically; Apply does the same on
// a service.Config in memory. List, ListService, ListConns, ListTimeouts and
// Save print ipvsadm's formats byte for byte (-L with --stats, --rate,
// --thresholds, --persistent-conn, --tun-info, --exact, -n, --nosort; -c;
// --timeout; -S); ParseRules and Restore read rule files, including ones
// written by the real ipvsadm -S, all lines or none. Run ties these to a
// Backend (the daemon's control.Client). The package does no I/O of its own
// beyond the readers and writers it is handed; name lookups go through a
// Resolver.
//
// # Service groups instead of firewall marks
//
// xvs does not see netfilter marks, so ipvsadm's -f names a service group
// instead: "-f web" (numbers work too, so "-f 1" of an old rules file is
// group "1"). A group says which traffic belongs to it through matches, set
// in the configuration file or, when xvsadm creates or changes a group, with
// the xvs option --match, once per match:
//
//	xvsadm -A -f web -s wlc -p 600 --match tcp:198.18.0.10/32:80 --match tcp:198.18.0.10/32:443
//	xvsadm -a -f web -r 198.18.1.2 -g
//
// A match is PROTO:PREFIX[:PORTS]: tcp or udp; an address or CIDR prefix
// (IPv6 in brackets when ports follow, tcp:[2001:db8::/64]:443); a port, a
// range 80-81, or * (the default) for every port. -E without --match keeps a
// group's matches. Listings show a group as ipvsadm shows a mark ("FWM  web"),
// and -S writes its matches so -R restores them.
//
// # Where xvsadm differs from ipvsadm
//
//   - Names: without -n, listings print host names (Resolver.HostName) and
//     service names (/etc/services) as ipvsadm does; the CLI resolves host
//     names with a short timeout and prints the number when there is none.
//   - -M is read for the service's address family wherever it appears on the
//     line (ipvsadm reads it for whatever family it has seen so far), must
//     be a contiguous mask, and needs -p (ipvsadm ignores it silently).
//   - -S adds " -x N -y N" to real servers with thresholds (ipvsadm -S drops
//     them) and " --match ..." to groups, so -S then -R restores exactly.
//   - -R applies the whole file or nothing, and names the line that failed
//     ("line 3: Service already exists"); it accepts -A -E -D -C -a -e -d
//     lines, a leading "ipvsadm" word, blank lines and # comments.
//   - Sorting compares addresses as numbers (ipvsadm's comparison can wrap
//     for addresses far apart).
//   - Typographic dashes pasted from documents ("–stats") count as "--".
//   - -L --drops (xvs only; ipvsadm has no such option) lists the daemon's
//     loss counters (control.DropReport, see ListDrops): one line per reason
//     and queue, a subtotal per reason seen on several queues, the total,
//     and under "Not dropped" the steering program's verdicts per queue. It
//     goes with -L (and -n) only.
//   - -L --mh (xvs only) lists each mh service's Maglev table as the daemon
//     built it (control.MHTable, see ListMH): size, flags and a digest, then
//     every real server's weight and slots. Directors behind one ECMP router
//     compare the digests. It goes with -L (and -n) only.
//   - Sync daemons: --start-daemon and --stop-daemon master|backup with
//     ipvsadm's options and defaults (--mcast-interface eth0, --syncid 0)
//     drive the daemon's IPVS sync daemons (control.SyncDaemons), with
//     ipvsadm's errors ("Daemon has already run", "No daemon is running",
//     the kernel's "No such device"); -L --daemon prints ipvsadm's line per
//     daemon with the values in force, as a kernel of 4.3 or later reports
//     them. --sync (xvs only) lists their datagram and connection counts
//     (ListSync).
//   - BGP (xvs only): -L --bgp lists the daemon's announcer (ListBGP): its
//     sessions with their state, time up, prefixes and updates sent and
//     last error, then the announced prefixes. --drain withdraws every
//     prefix and leaves forwarding alone; --undrain announces the healthy
//     ones again. A daemon without a bgp: block answers them with an error.
//   - Not supported, with a message saying so: SCTP services, --pe.
//   - Tunnels: --tun-type ipip|gue|gre, --tun-port and --tun-nocsum,
//     --tun-csum, --tun-remcsum are checked as ipvsadm checks them and kept;
//     --tun-remcsum sends what --tun-csum sends, because the inner checksums
//     xvs forwards are complete (the kernel adds its remote-checksum option
//     only for partial ones). A tunnelling real server must be of the
//     service's address family, as for every method in xvs (IPVS lets
//     tunnels cross families).
package admin
