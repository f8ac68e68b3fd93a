package admin

import (
	"net/netip"
	"strings"

	"github.com/xvs-project/xvs/control"
)

// defaultMcastInterface is ipvsadm's --mcast-interface when none is given
// (DEF_MCAST_IFN); a director without it answers "No such device", as the
// kernel does.
const defaultMcastInterface = "eth0"

// daemonOption reads one of --start-daemon's options with ipvsadm's checks
// and messages.
func (p *parser) daemonOption(t token) error {
	c := &p.cmd
	o := map[flagID]opt{fMcastIf: optMcastIf, fMcastGroup: optMcastGroup, fMcastPort: optMcastPort,
		fMcastTTL: optMcastTTL, fSyncMaxLen: optSyncMaxLen}[t.f.id]
	if err := p.mark(o); err != nil {
		return err
	}
	switch t.f.id {
	case fMcastIf:
		c.Sync.Interface = t.val
	case fMcastGroup:
		// ipvsadm tells the family by a colon.
		a, err := netip.ParseAddr(t.val)
		v6 := strings.Contains(t.val, ":")
		if err != nil || a.Is6() != v6 || a.Zone() != "" || !a.IsMulticast() {
			if v6 {
				return syntaxf(ErrInvalidOption, "invalid IPv6 mcast-group `%s'", t.val)
			}
			return syntaxf(ErrInvalidOption, "invalid IPv4 mcast-group `%s'", t.val)
		}
		c.Sync.Group = a
	case fMcastPort:
		n, ok := number(t.val, 1, 65535)
		if !ok {
			return syntaxf(ErrInvalidOption, "illegal mcast-port specified")
		}
		c.Sync.Port = int(n)
	case fMcastTTL:
		n, ok := number(t.val, 1, 255)
		if !ok {
			return syntaxf(ErrInvalidOption, "illegal mcast-ttl specified")
		}
		c.Sync.TTL = int(n)
	case fSyncMaxLen:
		n, ok := number(t.val, 1, 65535-20-8)
		if !ok {
			return syntaxf(ErrInvalidOption, "illegal sync-maxlen specified")
		}
		c.Sync.MaxLen = int(n)
	}
	return nil
}

// SyncBackend is a Backend that runs IPVS sync daemons (--start-daemon,
// --stop-daemon, -L --daemon, --sync); *control.Client is one.
type SyncBackend interface {
	Sync() (control.SyncStatus, error)
	StartDaemon(role control.SyncRole, cfg control.SyncDaemon) error
	StopDaemon(role control.SyncRole) error
}
