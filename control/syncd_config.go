package control

import (
	"fmt"
	"net/netip"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/xvs-project/xvs/keepalived"
)

// syncBlock reads the YAML file's sync: block (see ParseConfig), after
// f's VRRP instances; nil without one.
func (p *parser) syncBlock(root *yaml.Node, f *File) (*SyncConfig, error) {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	n := lookupValue(doc, "sync")
	if n == nil {
		return nil, nil
	}
	c := &SyncConfig{}
	daemon := func(out **SyncDaemon) func(*yaml.Node, string) error {
		return func(v *yaml.Node, field string) error {
			d, err := p.syncDaemon(v, field)
			*out = d
			return err
		}
	}
	err := p.fields(n, "sync", map[string]func(*yaml.Node, string) error{
		"master": daemon(&c.Master),
		"backup": daemon(&c.Backup),
		"follow": func(v *yaml.Node, field string) error {
			inst := lookupValue(v, "vrrp_instance")
			if inst == nil || inst.Kind != yaml.ScalarNode || inst.Value == "" {
				return p.failf(v, field+".vrrp_instance", "is required (the VRRP instance whose state picks the role)")
			}
			found := false
			for _, in := range f.VRRP {
				found = found || in.Name == inst.Value
			}
			if !found {
				return p.failf(inst, field+".vrrp_instance", "no vrrp: instance is named %q", inst.Value)
			}
			rest := &yaml.Node{Kind: yaml.MappingNode, Line: v.Line}
			for i := 0; i+1 < len(v.Content); i += 2 {
				if v.Content[i].Value != "vrrp_instance" {
					rest.Content = append(rest.Content, v.Content[i], v.Content[i+1])
				}
			}
			d, err := p.syncDaemon(rest, field)
			if err != nil {
				return err
			}
			c.Follow = &SyncFollows{Instance: inst.Value, SyncDaemon: *d}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	switch {
	case c.Follow != nil && (c.Master != nil || c.Backup != nil):
		return nil, p.failf(n, "sync", "follow: takes both roles in turn; no master: or backup: beside it")
	case c.Follow == nil && c.Master == nil && c.Backup == nil:
		return nil, p.failf(n, "sync", "names no daemon (master:, backup:, follow:)")
	}
	return c, nil
}

func (p *parser) syncDaemon(n *yaml.Node, path string) (*SyncDaemon, error) {
	d := &SyncDaemon{}
	num := func(out *int, min, max int64) func(*yaml.Node, string) error {
		return func(v *yaml.Node, f string) error {
			x, err := p.int(v, f, min, max)
			*out = int(x)
			return err
		}
	}
	err := p.fields(n, path, map[string]func(*yaml.Node, string) error{
		"interface": func(v *yaml.Node, f string) error {
			if v.Kind != yaml.ScalarNode || v.Value == "" {
				return p.failf(v, f, "expected an interface name")
			}
			d.Interface = v.Value
			return nil
		},
		"syncid": func(v *yaml.Node, f string) error {
			x, err := p.int(v, f, 0, 255)
			d.SyncID = uint8(x)
			return err
		},
		"maxlen": num(&d.MaxLen, 1, 65535-20-8),
		"port":   num(&d.Port, 1, 65535),
		"ttl":    num(&d.TTL, 1, 255),
		"group": func(v *yaml.Node, f string) error {
			a, err := p.addr(v, f)
			if err == nil && !a.IsMulticast() {
				err = p.failf(v, f, "%s is not a multicast address", a)
			}
			d.Group = a
			return err
		},
		"peers": func(v *yaml.Node, f string) error {
			peers, err := p.syncPeers(v, f)
			d.Peers = peers
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	if d.Interface == "" {
		return nil, p.failf(n, path+".interface", "is required")
	}
	if len(d.Peers) > 0 && d.Group.IsValid() {
		return nil, p.failf(n, path+".peers", "cannot be mixed with group: (unicast peers replace the multicast group)")
	}
	return d, nil
}

// syncPeers reads a daemon's peers: (xvs only): a list of IPv4 unicast
// addresses, each with a port or without one (the daemon's port then).
func (p *parser) syncPeers(v *yaml.Node, f string) ([]netip.AddrPort, error) {
	if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
		return nil, p.failf(v, f, "expected a list of peer addresses (ADDR or ADDR:PORT)")
	}
	var peers []netip.AddrPort
	for i, e := range v.Content {
		ef := fmt.Sprintf("%s[%d]", f, i)
		if e.Kind != yaml.ScalarNode {
			return nil, p.failf(e, ef, "expected ADDR or ADDR:PORT")
		}
		ap, err := netip.ParseAddrPort(e.Value)
		if err != nil {
			a, aerr := netip.ParseAddr(e.Value)
			if aerr != nil {
				return nil, p.failf(e, ef, "%q is not ADDR or ADDR:PORT", e.Value)
			}
			ap = netip.AddrPortFrom(a, 0)
		}
		a := ap.Addr().Unmap()
		if !a.Is4() || a.IsUnspecified() || a.IsMulticast() {
			return nil, p.failf(e, ef, "%s: only IPv4 unicast peers are supported", a)
		}
		ap = netip.AddrPortFrom(a, ap.Port())
		if slices.Contains(peers, ap) {
			return nil, p.failf(e, ef, "%s is listed twice", ap)
		}
		peers = append(peers, ap)
	}
	return peers, nil
}

// lookupValue is the value of key in mapping n, or nil.
func lookupValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// keepalivedSync maps lvs_sync_daemon: one daemon that follows its VRRP
// instance, keepalived's way (master while the instance is MASTER, backup
// otherwise). Without an instance it follows the file's only one; an
// instance the file does not define, or none to follow, leaves sync off
// with a warning, as keepalived clears the setting.
func keepalivedSync(f *File, sd *keepalived.SyncDaemon) {
	if sd == nil {
		return
	}
	inst := sd.Instance
	if inst == "" && len(f.VRRP) == 1 {
		inst = f.VRRP[0].Name
	}
	found := false
	for _, v := range f.VRRP {
		found = found || v.Name == inst
	}
	if !found {
		what := "names no vrrp_instance to follow"
		if inst != "" {
			what = fmt.Sprintf("names vrrp_instance %s, which is not defined", inst)
		}
		f.Warnings = append(f.Warnings, "lvs_sync_daemon "+what+"; no sync daemon is started")
		return
	}
	f.Sync = &SyncConfig{Follow: &SyncFollows{Instance: inst, SyncDaemon: SyncDaemon{
		Interface: sd.Interface, SyncID: sd.SyncID, MaxLen: sd.MaxLen, Group: sd.Group, Port: sd.Port, TTL: sd.TTL,
	}}}
}
