package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/internal/netns"
)

// addrs adds, removes and announces an instance's virtual addresses on its
// interface, in the instance's namespace.
type addrs struct {
	h       *netlink.Handle
	link    netlink.Link
	mac     net.HardwareAddr
	primary netip.Addr // first global IPv4 address, or the IPv6 link-local one
	v6      bool
	fd      int // AF_PACKET socket for the announcements
}

func openAddrs(nsPath, ifname string, v6 bool) (*addrs, error) {
	a := &addrs{v6: v6, fd: -1}
	// The netlink socket is opened inside the namespace and works on it
	// from any thread afterwards.
	err := netns.Do(nsPath, func() (err error) {
		a.h, err = netlink.NewHandle()
		return err
	})
	if err != nil {
		return nil, err
	}
	if a.link, err = a.h.LinkByName(ifname); err != nil {
		a.close()
		return nil, fmt.Errorf("interface %q: %w", ifname, err)
	}
	a.mac = a.link.Attrs().HardwareAddr
	family := netlink.FAMILY_V4
	if v6 {
		family = netlink.FAMILY_V6
	}
	list, err := a.h.AddrList(a.link, family)
	if err != nil {
		a.close()
		return nil, err
	}
	for _, ad := range list {
		ip, ok := netip.AddrFromSlice(ad.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if (v6 && ip.IsLinkLocalUnicast()) || (!v6 && ip.IsGlobalUnicast()) {
			a.primary = ip
			break
		}
	}
	proto := htons(unix.ETH_P_ARP)
	if v6 {
		proto = htons(unix.ETH_P_IPV6)
	}
	err = netns.Do(nsPath, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return fmt.Errorf("packet socket for announcements: %w", err)
		}
		a.fd = fd
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: a.link.Attrs().Index})
	})
	if err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (a *addrs) add(vips []netip.Prefix) error {
	var errs []error
	for _, p := range vips {
		if err := a.h.AddrReplace(a.link, netlinkAddr(p)); err != nil {
			errs = append(errs, fmt.Errorf("%v: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func (a *addrs) del(vips []netip.Prefix) error {
	var errs []error
	for _, p := range vips {
		err := a.h.AddrDel(a.link, netlinkAddr(p))
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("%v: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func netlinkAddr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
}

// announce sends n gratuitous ARPs (IPv4) or unsolicited neighbour
// advertisements (IPv6) for each address.
func (a *addrs) announce(vips []netip.Prefix, n int) {
	var frame [128]byte
	for range n {
		for _, p := range vips {
			var b []byte
			if a.v6 {
				b = AppendUnsolicitedNA(frame[:0], a.mac, p.Addr(), false)
			} else {
				b = AppendGARP(frame[:0], a.mac, p.Addr())
			}
			_ = unix.Sendto(a.fd, b, 0, &unix.SockaddrLinklayer{Ifindex: a.link.Attrs().Index, Halen: 6})
		}
	}
}

func (a *addrs) close() {
	if a.fd >= 0 {
		unix.Close(a.fd)
		a.fd = -1
	}
	if a.h != nil {
		a.h.Close()
	}
}
