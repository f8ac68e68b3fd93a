package admin

import (
	"fmt"
	"io"
)

// Version writes xvsadm's version line.
func Version(w io.Writer) error {
	_, err := fmt.Fprintf(w, "xvsadm v1.31 (xvs; ipvsadm 1.31 syntax and formats, IPVS v%s semantics)\n", IPVSVersion)
	return err
}

// Usage writes xvsadm's help.
func Usage(w io.Writer) error {
	if err := Version(w); err != nil {
		return err
	}
	_, err := io.WriteString(w, usageText)
	return err
}

const usageText = `Usage:
  xvsadm -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags] [--match m ...]
  xvsadm -D virtual-service
  xvsadm -C
  xvsadm -R
  xvsadm -S [-n]
  xvsadm -a|e virtual-service -r server-address [options]
  xvsadm -d virtual-service -r server-address
  xvsadm -L|l [virtual-service] [options]
  xvsadm -Z [virtual-service]
  xvsadm --set tcp tcpfin udp
  xvsadm --set-capacity entries
  xvsadm --checks
  xvsadm --start-daemon {master|backup} [daemon-options]
  xvsadm --stop-daemon {master|backup}
  xvsadm --vrrp
  xvsadm --sync
  xvsadm --drain | --undrain
  xvsadm -L --bgp
  xvsadm -h

Commands (long or short form):
  --add-service     -A        add a virtual service
  --edit-service    -E        change a virtual service's scheduling and persistence
  --delete-service  -D        delete a virtual service and its real servers
  --clear           -C        delete every virtual service
  --restore         -R        load rules from standard input (all or nothing)
  --save            -S        write the rules to standard output
  --add-server      -a        add a real server
  --edit-server     -e        change a real server
  --delete-server   -d        delete a real server
  --list            -L|-l     list the table
  --zero            -Z        zero the counters of one service or of all
  --set tcp tcpfin udp        set the connection timeouts (seconds, 0 = keep)
  --set-capacity entries      resize the connection table while running (xvs only)
  --checks                    list every health checker and its last result (xvs only)
  --start-daemon              start connection sync daemon
  --stop-daemon               stop connection sync daemon
  --vrrp                      list the VRRP instances and their states (xvs only)
  --sync                      list the sync daemons' messages and connections (xvs only)
  --drain                     withdraw every BGP-announced VIP, keep forwarding (xvs only)
  --undrain                   announce the healthy VIPs over BGP again (xvs only)
  --help            -h        show this help

virtual-service:
  --tcp-service|-t  host[:port]   a TCP service; IPv6 as [addr]:port
  --udp-service|-u  host[:port]   a UDP service
  --fwmark-service|-f name        a service group (xvs's firewall marks), defined in
                                  the configuration file or with --match

Options:
  --scheduler    -s scheduler     rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos
                                  (default wlc)
  --persistent   -p [timeout]     persistent service (default 300 seconds)
  --netmask      -M netmask       persistence granularity: a.b.c.d, or a prefix length for IPv6
  --sched-flags  -b flags         sh-fallback,sh-port or mh-fallback,mh-port
  --ops          -o               schedule every UDP datagram on its own
  --match        proto:prefix[:ports]
                                  traffic of a service group, repeatable:
                                  tcp:198.18.0.10/32:80-81, udp:[2001:db8::/64]:53
  --real-server  -r host[:port]   the real server
  --gatewaying   -g               direct routing (default)
  --ipip         -i               tunnelling (IPIP unless --tun-type says otherwise)
  --tun-type     type             one of ipip|gue|gre (default ipip)
  --tun-port     port             tunnel destination port (gue, required)
  --tun-nocsum                    tunnel without checksum (default; gue, gre)
  --tun-csum                      tunnel with checksum (gue, gre)
  --tun-remcsum                   tunnel with remote checksum (gue)
  --masquerading -m               NAT
  --weight       -w weight        0..2147483647 (default 1)
  --u-threshold  -x n             stop sending new connections above n
  --l-threshold  -y n             resume below n
  --numeric      -n               addresses and ports as numbers
  --connection   -c               list connection entries
  --timeout                       list the timeouts
  --daemon                        list the sync daemons
  --stats                         list counters
  --rate                          list rate estimates
  --exact                         do not scale large numbers
  --thresholds                    list thresholds
  --persistent-conn               list persistent connection counts
  --tun-info                      list tunnel types
  --drops                         list dropped packets by reason and queue (xvs only)
  --mh                            list each mh service's Maglev table digest and slots (xvs only)
  --bgp                           list the BGP peers and announced prefixes (xvs only)
  --nosort                        keep the configuration's order
  --sort                          sort (the default)

Daemon Options:
  --syncid sid                    syncid for connection sync (default=0)
  --sync-maxlen length            max sync message length (default: the MTU less 28, 1472 for a master)
  --mcast-interface interface     multicast interface for connection sync (default eth0)
  --mcast-group address           IPv4 group (default=224.0.0.81)
  --mcast-port port               UDP port (default=8848)
  --mcast-ttl ttl                 multicast TTL (default=1)

The daemon's socket is /run/xvs/xvs.sock unless XVS_SOCKET names another.
`
