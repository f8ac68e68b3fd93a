// Command xvs is the xvs daemon: a Layer-4 load balancer in the tradition of
// LVS/IPVS that forwards virtual services' packets to real servers over
// AF_XDP, in userspace.
//
//	xvs run -i IFACE[,IFACE...] [--config FILE] [--backend xdp|afpacket|auto] [--socket PATH] [--metrics ADDR]
//	xvs decap -i IFACE [--gue-port N[,N...]] [--remove]
//
// Services are managed with xvsadm (ipvsadm's syntax) or the config file.
package main

import (
	"fmt"
	"os"
)

const usage = `usage:
  xvs run -i IFACE[,IFACE...] [--config FILE] [--backend xdp|afpacket|auto]
          [--xdp-mode auto|native|generic] [--socket PATH] [--metrics ADDR]
          [--capacity N] [--sloppy] [--ecmp] [--conn-reuse-mode 0|1|2]
      run the director on the given interfaces (NAT: external,internal);
      --ecmp: one of several active directors behind an ECMP router, where
      mh services (same table on every director) take over flows the router
      moves here mid-connection, as --sloppy does for every service (on by
      default with a bgp: block in the file; --ecmp=false turns it off);
      --conn-reuse-mode is IPVS's net.ipv4.vs.conn_reuse_mode (default 1):
      whether a SYN from a reused client port is scheduled afresh (0 never,
      1 on TIME_WAIT/CLOSE entries, 2 also on DR/TUN FIN_WAIT ones)
  xvs decap -i IFACE [--gue-port N[,N...]] [--remove]
      on a TUN real server: attach (or remove) xvs's XDP decapsulator, which
      strips IPIP/IP6IP6 and GRE headers of packets addressed to this host,
      and GUE headers of UDP to the --gue-port ports (repeatable)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(os.Args[2:])
	case "decap":
		err = decapCmd(os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "xvs: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "xvs: %v\n", err)
		os.Exit(1)
	}
}
