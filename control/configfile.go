package control

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/xvs-project/xvs/service"
)

// ConfigError points at the line and field of a configuration file that is
// wrong. The daemon prints it and refuses to start (or, on reload, keeps the
// running configuration).
type ConfigError struct {
	File  string
	Line  int
	Field string
	Err   error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %v", e.File, e.Line, e.Field, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// LoadConfigFile reads and validates a YAML configuration file.
func LoadConfigFile(path string) (*service.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

// ParseConfig parses and validates a YAML configuration. name is used in
// error messages, which read "name:LINE: field: what is wrong". The format:
//
//	services:
//	  - proto: tcp            # tcp | udp
//	    vip: 198.18.0.10
//	    port: 80              # 0 = every port (persistent services only)
//	    scheduler: wlc        # any ipvsadm -s name; default wlc
//	    flags: [sh-port]      # ipvsadm -b flags
//	    persistent: 300       # seconds (or "5m", or true for 300 s); omit for none
//	    netmask: 24           # persistence granularity, prefix length
//	    one-packet: false     # UDP: schedule every datagram (ipvsadm -o)
//	    check: {...}          # health checks, below
//	    reals:
//	      - address: 198.18.1.2
//	        port: 8080        # NAT may map ports; DR/TUN use the service port
//	        weight: 1
//	        method: nat       # nat | dr | tun
//	        tun-type: ipip    # tun only: ipip | gue | gre (ipvsadm --tun-type)
//	        tun-port: 6080    # gue only, required (--tun-port)
//	        tun-csum: nocsum  # gue, gre: nocsum | csum | remcsum (gue only)
//	        upper-threshold: 0
//	        lower-threshold: 0
//	        check: {...}      # this real server's checks, below
//	  - group: web            # a service group (fwmark-style): one scheduler
//	    match:                # and set of reals for several VIP:port ranges
//	      - {proto: tcp, prefix: 198.18.0.10/32, ports: "80"}
//	      - {proto: tcp, prefix: 198.18.0.10, ports: "443-444"}
//	    persistent: 600
//	    reals: [...]
//
// # Health checks
//
// A check: block is keepalived's: its keys are keepalived.conf's keywords,
// verbatim, with keepalived's meaning, defaults and inheritance (package
// keepalived builds them; its doc and keepalived.conf(5) describe each). A
// value is a scalar; a keyword that takes several values takes a list
// (status_code: [200, 300-302]); a bare keyword is an empty value (alpha:)
// or true. A checker or url block is a mapping, or a list of mappings for
// several of one kind. On a service, check: holds virtual_server's keys:
//
//	check:
//	  delay_loop: 6             # timing: inherited by every real server and checker
//	  connect_timeout: 3        #   (a checker's own, then its real server's, then these)
//	  retry: 2
//	  delay_before_retry: 1
//	  warmup: 0
//	  alpha: true               # start down until the first pass
//	  omega: true
//	  quorum: 2                 # quorum, hysteresis, quorum_up, quorum_down:
//	  hysteresis: 1             #   keepalived's quorum rules
//	  quorum_up: "/usr/local/bin/quorum up"
//	  quorum_down: "/usr/local/bin/quorum down"
//	  inhibit_on_failure: true  # default of the real servers: a failed one stays at weight 0
//	  sorry_server: 198.18.1.9 8080   # or {address: 198.18.1.9, port: 8080, method: nat, tun-type: ...};
//	  sorry_server_inhibit: true      #   its method is the first real server's unless given
//	  virtualhost: www.example.com
//	  path-true: true           # xvs: default of the real servers, below
//	  HTTP_GET:                 # checkers, for every real server with none of its own
//	    url:
//	      - path: /health
//	        status_code: [200-299]
//	        digest: 9b3a0c85a887a256d6939da88aabd8cd
//	        regex: "ok|ready"
//	    virtualhost: www.example.com
//	    connect_port: 8080      # connect_ip, connect_port, bindto, bind_port, bind_if, fwmark
//	    connect_timeout: 2
//
// On a real server, check: holds real_server's keys (its weight is the
// real server's weight: field) and its own checkers, which replace the
// service's:
//
//	check:
//	  inhibit_on_failure: false
//	  notify_up: "/usr/local/bin/notify up 198.18.1.2"
//	  notify_down: "/usr/local/bin/notify down 198.18.1.2"
//	  delay_loop: 3             # and the other timing keys, alpha, virtualhost
//	  path-true: false
//	  TCP_CHECK: {connect_port: 80}
//	  MISC_CHECK:
//	    misc_path: "/usr/local/bin/check 198.18.1.2"
//	    misc_timeout: 5
//	    misc_dynamic: true
//
// The checkers are TCP_CHECK, HTTP_GET, SSL_GET (url, virtualhost,
// http_protocol, enable_sni, sni_name), UDP_CHECK (payload, require_reply,
// min_reply_length, max_reply_length), DNS_CHECK (type, name) and
// MISC_CHECK (misc_path, misc_timeout, misc_dynamic); each also takes the
// timing keys, and every network checker connect_ip, connect_port, bindto,
// bind_port, bind_if and fwmark. A key that is not in its block is refused.
//
// # Connection sync
//
// A sync: block at the top starts IPVS sync daemons with the director, as
// ipvsadm --start-daemon would (master, backup, or both for two sync IDs);
// each takes ipvsadm's daemon options, and only interface is required:
//
//	sync:
//	  master:
//	    interface: eth1       # --mcast-interface
//	    syncid: 7             # --syncid, 0..255 (default 0)
//	    maxlen: 1472          # --sync-maxlen (default: the MTU less 28)
//	    group: 224.0.0.81     # --mcast-group
//	    port: 8848            # --mcast-port
//	    ttl: 1                # --mcast-ttl
//	  backup: {interface: eth1, syncid: 8}
//
// or, as keepalived's lvs_sync_daemon does, one daemon that is master while
// a VRRP instance of the vrrp: list is MASTER and backup otherwise:
//
//	sync:
//	  follow: {vrrp_instance: VI_1, interface: eth1, syncid: 7}
//
// path-true is xvs's own: a network check of a DR or TUN real server
// travels the forwarded packets' way, to the service's VIP on the port the
// checker dials, delivered to the server's MAC or encapsulated to it, so a
// server without the VIP (or without decapsulation) is down. It is on by
// default; path-true: false on a checker, a real server's check: or a
// service's check: turns it off (the nearest one counts). A group service
// has no single VIP:port, so its checks dial the real servers directly
// (with a warning), and so does a checker whose connect_ip is not the real
// server's address.
//
// A bgp: block at the top announces the healthy services' VIPs to routers
// (configbgp.go has the format).
//
// A vrrp: list at the top holds the VRRP instances the daemon runs
// (configvrrp.go has the format: keepalived's vrrp_instance keywords).
//
// ParseConfig returns the services only; ReadFile returns the whole File,
// with the checks (Health, Sorry, Probes) and keepalived's warnings. Both
// refuse a file with a bad check: block.
func ParseConfig(name string, data []byte) (*service.Config, error) {
	f, err := parseYAMLFile(name, data)
	if err != nil {
		return nil, err
	}
	return f.Services, nil
}

type parser struct {
	file string
	// vrrpNode is the file's vrrp: list, read after the services.
	vrrpNode *yaml.Node
}

func (p *parser) fail(n *yaml.Node, field string, err error) error {
	return &ConfigError{File: p.file, Line: n.Line, Field: field, Err: err}
}

func (p *parser) failf(n *yaml.Node, field, format string, args ...any) error {
	return p.fail(n, field, fmt.Errorf(format, args...))
}

// fields walks a mapping node, rejecting unknown keys.
func (p *parser) fields(n *yaml.Node, path string, known map[string]func(v *yaml.Node, field string) error) error {
	if n.Kind != yaml.MappingNode {
		return p.failf(n, path, "expected a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := path + "." + k.Value
		f, ok := known[k.Value]
		if !ok {
			return p.failf(k, field, "unknown field %q", k.Value)
		}
		if err := f(v, field); err != nil {
			return err
		}
	}
	return nil
}

// config reads the document's services and returns them with their YAML
// nodes, in the same order, for the check: blocks read after them.
func (p *parser) config(root *yaml.Node) (*service.Config, []*yaml.Node, error) {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	cfg := &service.Config{}
	var nodes []*yaml.Node
	err := p.fields(doc, "config", map[string]func(*yaml.Node, string) error{
		"vrrp": func(v *yaml.Node, field string) error {
			p.vrrpNode = v
			return nil
		},
		"services": func(v *yaml.Node, field string) error {
			if v.Kind != yaml.SequenceNode {
				return p.failf(v, field, "expected a list of services")
			}
			for i, sn := range v.Content {
				s, err := p.service(sn, fmt.Sprintf("services[%d]", i))
				if err != nil {
					return err
				}
				cfg.Services = append(cfg.Services, s)
				nodes = append(nodes, sn)
			}
			return nil
		},
		"sync": func(*yaml.Node, string) error { return nil }, // syncBlock reads it
		"bgp":  func(*yaml.Node, string) error { return nil }, // bgpBlock reads it
	})
	if err != nil {
		return nil, nil, err
	}
	// Whole-config checks (duplicates, cross-field rules) point at the service.
	seen := map[service.Key]bool{}
	for i := range cfg.Services {
		s := &cfg.Services[i]
		s.Normalize()
		field := fmt.Sprintf("services[%d]", i)
		if err := s.Validate(); err != nil {
			return nil, nil, p.fail(p.fieldNode(nodes[i], err), field+p.fieldSuffix(err), err)
		}
		if seen[s.Key()] {
			return nil, nil, p.failf(nodes[i], field, "service %s is defined twice", s.Key())
		}
		seen[s.Key()] = true
	}
	return cfg, nodes, nil
}

// fieldNode finds the node a validation error talks about, for its line.
func (p *parser) fieldNode(svc *yaml.Node, err error) *yaml.Node {
	var fe *service.FieldError
	if !errors.As(err, &fe) || fe.Field == "" {
		return svc
	}
	if n := lookup(svc, fe.Field); n != nil {
		return n
	}
	return svc
}

func (p *parser) fieldSuffix(err error) string {
	var fe *service.FieldError
	if errors.As(err, &fe) && fe.Field != "" {
		return "." + fe.Field
	}
	return ""
}

func lookup(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

func (p *parser) service(n *yaml.Node, path string) (service.Service, error) {
	var s service.Service
	netmask, netmaskNode := 0, (*yaml.Node)(nil)
	err := p.fields(n, path, map[string]func(*yaml.Node, string) error{
		"proto": func(v *yaml.Node, f string) error {
			pr, err := service.ParseProto(v.Value)
			if err != nil {
				return p.fail(v, f, err)
			}
			s.Proto = pr
			return nil
		},
		"vip": func(v *yaml.Node, f string) error {
			a, err := p.addr(v, f)
			s.Addr = a
			return err
		},
		"port": func(v *yaml.Node, f string) error {
			port, err := p.port(v, f)
			s.Port = port
			return err
		},
		"group": func(v *yaml.Node, f string) error {
			if v.Value == "" {
				return p.failf(v, f, "group name is empty")
			}
			s.Group = v.Value
			return nil
		},
		"match": func(v *yaml.Node, f string) error {
			if v.Kind != yaml.SequenceNode {
				return p.failf(v, f, "expected a list of matches")
			}
			for i, mn := range v.Content {
				m, err := p.match(mn, fmt.Sprintf("%s[%d]", f, i))
				if err != nil {
					return err
				}
				s.Matches = append(s.Matches, m)
			}
			return nil
		},
		"scheduler": func(v *yaml.Node, f string) error {
			s.Scheduler = v.Value
			return nil
		},
		"flags": func(v *yaml.Node, f string) error {
			return p.strings(v, f, &s.SchedFlags)
		},
		"mh-table-size": func(v *yaml.Node, f string) error {
			n, err := p.int(v, f, 0, 1<<24)
			s.MHTableSize = int(n)
			return err
		},
		"persistent": func(v *yaml.Node, f string) error {
			d, on, err := p.persistent(v, f)
			if err != nil || !on {
				return err
			}
			if s.Persistence == nil {
				s.Persistence = &service.Persistence{}
			}
			s.Persistence.Timeout = d
			return nil
		},
		"netmask": func(v *yaml.Node, f string) error {
			bits, err := p.int(v, f, 0, 128)
			netmask, netmaskNode = int(bits), v
			return err
		},
		"one-packet": func(v *yaml.Node, f string) error {
			return p.bool(v, f, &s.OnePacket)
		},
		"expire-quiescent": func(v *yaml.Node, f string) error {
			return p.bool(v, f, &s.ExpireQuiescent)
		},
		// check: is read with the whole file (configcheck.go), once the
		// real servers are normalized.
		"check": func(*yaml.Node, string) error { return nil },
		"reals": func(v *yaml.Node, f string) error {
			if v.Kind != yaml.SequenceNode {
				return p.failf(v, f, "expected a list of real servers")
			}
			for i, rn := range v.Content {
				r, err := p.real(rn, fmt.Sprintf("%s[%d]", f, i))
				if err != nil {
					return err
				}
				s.Reals = append(s.Reals, r)
			}
			return nil
		},
	})
	if err != nil {
		return s, err
	}
	if netmaskNode != nil {
		if s.Persistence == nil {
			return s, p.fail(netmaskNode, path+".netmask", service.ErrNetmaskNoPers)
		}
		s.Persistence.NetmaskBits = netmask
	}
	if s.Group == "" {
		if lookup(n, "proto") == nil {
			return s, p.failf(n, path+".proto", "missing (want tcp or udp)")
		}
		if lookup(n, "vip") == nil {
			return s, p.failf(n, path+".vip", "missing")
		}
		if lookup(n, "port") == nil {
			return s, p.failf(n, path+".port", "missing")
		}
	} else if lookup(n, "vip") != nil || lookup(n, "port") != nil {
		return s, p.failf(n, path, "a service has either vip/port or group/match, not both")
	}
	return s, nil
}

func (p *parser) match(n *yaml.Node, path string) (service.Match, error) {
	var m service.Match
	err := p.fields(n, path, map[string]func(*yaml.Node, string) error{
		"proto": func(v *yaml.Node, f string) error {
			pr, err := service.ParseProto(v.Value)
			if err != nil {
				return p.fail(v, f, err)
			}
			m.Proto = pr
			return nil
		},
		"prefix": func(v *yaml.Node, f string) error {
			pf, err := service.ParseMatchPrefix(v.Value)
			if err != nil {
				return p.fail(v, f, err)
			}
			m.Prefix = pf
			return nil
		},
		"ports": func(v *yaml.Node, f string) error {
			lo, hi, err := service.ParsePortRange(v.Value)
			if err != nil {
				return p.fail(v, f, err)
			}
			m.PortLo, m.PortHi = lo, hi
			return nil
		},
	})
	if err == nil && lookup(n, "prefix") == nil {
		err = p.failf(n, path+".prefix", "missing")
	}
	return m, err
}

func (p *parser) real(n *yaml.Node, path string) (service.Real, error) {
	r := service.Real{Weight: 1}
	known := p.realFields(&r)
	// check: is read with the whole file (configcheck.go).
	known["check"] = func(*yaml.Node, string) error { return nil }
	if err := p.fields(n, path, known); err != nil {
		return r, err
	}
	if lookup(n, "address") == nil {
		return r, p.failf(n, path+".address", "missing")
	}
	if lookup(n, "method") == nil {
		return r, p.failf(n, path+".method", "missing (want nat, dr or tun)")
	}
	return r, nil
}

// realFields reads a real server's fields into r; a sorry server takes
// some of them.
func (p *parser) realFields(r *service.Real) map[string]func(*yaml.Node, string) error {
	return map[string]func(*yaml.Node, string) error{
		"address": func(v *yaml.Node, f string) error {
			a, err := p.addr(v, f)
			r.Addr = a
			return err
		},
		"port": func(v *yaml.Node, f string) error {
			port, err := p.port(v, f)
			r.Port = port
			return err
		},
		"weight": func(v *yaml.Node, f string) error {
			w, err := p.int(v, f, 0, service.MaxWeight)
			r.Weight = int32(w)
			return err
		},
		"method": func(v *yaml.Node, f string) error {
			m, err := service.ParseMethod(v.Value)
			if err != nil {
				return p.fail(v, f, err)
			}
			r.Method = m
			return nil
		},
		"tun-type": func(v *yaml.Node, f string) error {
			t, err := service.ParseTunType(v.Value)
			if err != nil {
				return p.failf(v, f, "%q is not ipip, gue or gre", v.Value)
			}
			r.Tunnel.Type = t
			return nil
		},
		"tun-port": func(v *yaml.Node, f string) error {
			x, err := p.int(v, f, 1, 65535)
			r.Tunnel.Port = uint16(x)
			return err
		},
		"tun-csum": func(v *yaml.Node, f string) error {
			c, err := service.ParseChecksum(v.Value)
			if err != nil {
				return p.fail(v, f, err)
			}
			r.Tunnel.Csum = c
			return nil
		},
		"upper-threshold": func(v *yaml.Node, f string) error {
			x, err := p.int(v, f, 0, 1<<32-1)
			r.UpperThreshold = uint32(x)
			return err
		},
		"lower-threshold": func(v *yaml.Node, f string) error {
			x, err := p.int(v, f, 0, 1<<32-1)
			r.LowerThreshold = uint32(x)
			return err
		},
	}
}

func (p *parser) addr(v *yaml.Node, f string) (netip.Addr, error) {
	a, err := netip.ParseAddr(v.Value)
	if err != nil {
		return a, p.failf(v, f, "%q is not an IP address", v.Value)
	}
	return a.Unmap(), nil
}

func (p *parser) port(v *yaml.Node, f string) (uint16, error) {
	n, err := p.int(v, f, 0, 65535)
	return uint16(n), err
}

func (p *parser) int(v *yaml.Node, f string, min, max int64) (int64, error) {
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil || v.Kind != yaml.ScalarNode {
		return 0, p.failf(v, f, "%q is not a number", v.Value)
	}
	if n < min || n > max {
		return 0, p.failf(v, f, "%d is out of range %d..%d", n, min, max)
	}
	return n, nil
}

func (p *parser) bool(v *yaml.Node, f string, out *bool) error {
	b, err := strconv.ParseBool(v.Value)
	if err != nil {
		return p.failf(v, f, "%q is not true or false", v.Value)
	}
	*out = b
	return nil
}

func (p *parser) strings(v *yaml.Node, f string, out *[]string) error {
	switch v.Kind {
	case yaml.ScalarNode:
		for _, s := range strings.Split(v.Value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*out = append(*out, s)
			}
		}
		return nil
	case yaml.SequenceNode:
		for _, e := range v.Content {
			*out = append(*out, e.Value)
		}
		return nil
	}
	return p.failf(v, f, "expected a list")
}

// persistent accepts seconds, a Go duration, or a boolean.
func (p *parser) persistent(v *yaml.Node, f string) (time.Duration, bool, error) {
	if b, err := strconv.ParseBool(v.Value); err == nil {
		return service.DefaultPersistTimeout, b, nil
	}
	if n, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
		if n <= 0 || n > 1<<31-1 {
			return 0, false, p.failf(v, f, "%d seconds is out of range 1..2147483647", n)
		}
		return time.Duration(n) * time.Second, true, nil
	}
	d, err := time.ParseDuration(v.Value)
	if err != nil || d < time.Second {
		return 0, false, p.failf(v, f, "%q is not a timeout (seconds, or a duration like 5m)", v.Value)
	}
	return d, true, nil
}
