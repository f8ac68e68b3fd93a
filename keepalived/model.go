package keepalived

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/xvs-project/xvs/health"
)

// Config is what a keepalived.conf says about virtual servers and their checks.
type Config struct {
	Global Global
	// Groups are the virtual_server_group blocks by name.
	Groups map[string]*Group
	// VirtualServers in file order.
	VirtualServers []*VirtualServer
	// VRRPInstances and VRRPScripts in file order.
	VRRPInstances []*VRRPInstance
	VRRPScripts   []*VRRPScript
	// Warnings lists everything read but not acted on, in file order.
	Warnings []Warning
}

// Global is the part of global_defs this reader uses.
type Global struct {
	RouterID string
	// VRRPVersion is vrrp_version (0 when absent: version 2).
	VRRPVersion int
	// GARPMasterDelay, GARPMasterRepeat and GARPMasterRefresh are the
	// vrrp_garp_master_* defaults of every instance.
	GARPMasterDelay   time.Duration
	GARPMasterRepeat  int
	GARPMasterRefresh time.Duration
	// SyncDaemon is lvs_sync_daemon, nil when absent.
	SyncDaemon *SyncDaemon
}

// Group is a virtual_server_group: address ranges with a port, and firewall marks.
type Group struct {
	Pos     Pos
	Name    string
	Entries []GroupEntry
}

// GroupEntry is one line of a group: an address (or a range First..Last of the last octet or
// group, keepalived's 10.0.0.1-10 form) with a port, or a firewall mark.
type GroupEntry struct {
	Pos         Pos
	First, Last netip.Addr
	Port        uint16
	FWMark      uint32
}

// Tunnel is a TUN forwarding method's encapsulation (lvs_method TUN type gue port N csum).
type Tunnel struct {
	Type string // "ipip" (default), "gue", "gre"
	Port uint16 // GUE destination port
	Csum string // "", "nocsum", "csum", "remcsum"
}

// VirtualServer is one virtual_server block: an address and port, a firewall mark, or a group.
type VirtualServer struct {
	Pos    Pos
	Addr   netip.Addr
	Port   uint16
	FWMark uint32
	Group  string

	Protocol   string   // TCP (default), UDP, SCTP
	Scheduler  string   // lb_algo / lvs_sched; empty when not given
	SchedFlags []string // ops, sh-port, sh-fallback, mh-port, mh-fallback, flag-1..3
	Method     string   // NAT (keepalived's default), DR, TUN
	Tunnel     Tunnel

	// Persistence is persistence_timeout (0: not persistent; the bare keyword means 360 s).
	Persistence time.Duration
	// Granularity is persistence_granularity as a prefix length (0: not given).
	Granularity       int
	PersistenceEngine string

	Quorum, Hysteresis   int // quorum defaults to 1
	QuorumUp, QuorumDown []string
	Sorry                *RealServer // sorry_server; only address, port, weight and method are used
	SorryInhibit         bool
	Alpha, Omega         bool
	Inhibit              bool // inhibit_on_failure default for the real servers
	HASuspend            bool
	VirtualHost          string
	Reals                []*RealServer

	// at is the keyword token of each field given (by fieldName), flagAt the line of each of
	// SchedFlags: Services puts its errors and warnings on those lines.
	at     map[string]token
	flagAt []Pos
	// svcGroup is the name of the service group a group virtual server maps to (see Services);
	// resolveGroups sets it, and leftOut for a virtual server that Forwarded leaves out.
	svcGroup string
	leftOut  bool
}

// fieldName is the one name of a keyword that has two spellings, so a field's place is found
// whichever the file used.
func fieldName(key string) string {
	switch key {
	case "lb_algo", "lvs_sched":
		return "lb_algo"
	case "lb_kind", "lvs_method":
		return "lb_kind"
	}
	return key
}

// Name is how the virtual server is written in logs: "TCP 198.18.0.1:80", "FWM 5", "group web".
func (v *VirtualServer) Name() string {
	switch {
	case v.Group != "":
		return "group " + v.Group
	case v.FWMark != 0:
		return fmt.Sprintf("FWM %d", v.FWMark)
	}
	return v.Protocol + " " + netip.AddrPortFrom(v.Addr, v.Port).String()
}

// RealServer is one real_server block, with the virtual server's defaults already applied.
type RealServer struct {
	Pos    Pos
	Addr   netip.Addr
	Port   uint16
	Weight int
	Method string
	Tunnel Tunnel
	// Inhibit is inhibit_on_failure: a failed server stays at weight 0.
	Inhibit              bool
	NotifyUp, NotifyDown []string
	// UpperThreshold and LowerThreshold are uthreshold and lthreshold (0: none).
	UpperThreshold, LowerThreshold uint32
	VirtualHost                    string
	Checks                         []Check

	// at is the keyword token of each field given, by fieldName.
	at map[string]token
}

// AddrPort is the real server's address and port.
func (r *RealServer) AddrPort() netip.AddrPort { return netip.AddrPortFrom(r.Addr, r.Port) }

// Check is one checker block of a real server, ready to run.
type Check struct {
	Pos     Pos
	Kind    health.Kind
	Timing  health.Timing
	Alpha   bool
	Checker health.Checker
	// Net is the checker's bindto / bind_port / bind_if / fwmark, shared with Checker (nil only
	// for MISC_CHECK): the daemon may set Enter or Control on it for path-true probes.
	Net *health.Net
}
