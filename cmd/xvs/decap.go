package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/xvs-project/xvs/internal/xdpprog"
)

// decapCmd attaches xvs's XDP decapsulator to an interface of a TUN real
// server and exits; the program stays attached until `xvs decap --remove`.
// It strips IPIP, IPv6-in-IP and GRE always, and GUE to the ports given with
// --gue-port (repeatable, or a comma-separated list: --gue-port 6080,6079),
// the port the director's real server entry names with --tun-port.
func decapCmd(args []string) error {
	fs := flag.NewFlagSet("decap", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	iface := fs.String("i", "", "interface to attach to")
	remove := fs.Bool("remove", false, "detach instead of attaching")
	mode := fs.String("mode", "auto", "XDP attach mode: auto, native or generic")
	var guePorts []uint16
	fs.Func("gue-port", "UDP port to decapsulate GUE on (repeatable, or a comma-separated list)", func(v string) error {
		for _, w := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(w), 10, 16)
			if err != nil || n == 0 {
				return fmt.Errorf("GUE port %q is not in 1..65535", w)
			}
			if !slices.Contains(guePorts, uint16(n)) {
				guePorts = append(guePorts, uint16(n))
			}
		}
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("decap: %w", err)
	}
	if *iface == "" {
		return fmt.Errorf("decap: -i IFACE is required")
	}
	link, err := netlink.LinkByName(*iface)
	if err != nil {
		return fmt.Errorf("interface %q: %w", *iface, err)
	}
	if *remove {
		return xdpprog.DetachDecap(link.Attrs().Index)
	}
	m, err := xdpprog.ParseMode(*mode)
	if err != nil {
		return err
	}
	// Decapsulate only packets addressed to this host's own addresses.
	var local []netip.Addr
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("listing addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			local = append(local, ip.Unmap())
		}
	}
	d, err := xdpprog.NewDecap(local, guePorts)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Attach(link.Attrs().Index, m); err != nil {
		return fmt.Errorf("interface %q: %w", *iface, err)
	}
	return nil
}
