package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/xvs-project/xvs/internal/xdpprog"
)

// decapCmd attaches xvs's XDP decapsulator to an interface of a TUN real
// server and exits; the program stays attached until `xvs decap --remove`.
func decapCmd(args []string) error {
	fs := flag.NewFlagSet("decap", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	iface := fs.String("i", "", "interface to attach to")
	remove := fs.Bool("remove", false, "detach instead of attaching")
	mode := fs.String("mode", "auto", "XDP attach mode: auto, native or generic")
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
	d, err := xdpprog.NewDecap(local)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Attach(link.Attrs().Index, m); err != nil {
		return fmt.Errorf("interface %q: %w", *iface, err)
	}
	return nil
}
