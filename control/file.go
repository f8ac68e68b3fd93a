package control

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/service"
)

// The formats a configuration file can be written in.
const (
	FormatYAML       = "yaml"
	FormatKeepalived = "keepalived"
)

// File is everything a configuration file says, whichever format it is
// written in: the forwarding configuration as written, and the checks that
// decide which of its real servers take traffic.
type File struct {
	// Path and Format say where it came from.
	Path, Format string
	// Services lists every service with every real server at its
	// configured weight; the checks decide which of them are installed.
	Services *service.Config
	// Health lists the services that have checks (or a sorry server, or
	// quorum scripts), in Services' order. Each health.Service's Key is its
	// service.Key and each health.Real's Key its service.RealKey, so the
	// daemon's health.Actions find them in Services again.
	Health []health.Service
	// Sorry holds the sorry server of each service that has one: the real
	// server the health engine puts in when quorum is lost.
	Sorry map[service.Key]service.Real
	// Probes lists the checks of DR and TUN real servers that may be made
	// path-true (see PathProbe), each with the Net its checker dials
	// through, so the daemon can route it the way forwarded packets go.
	Probes []PathProbe
	// VRRP lists the VRRP instances the daemon runs (vrrp_instance).
	// They are read at start; a reload that changes them is told to
	// restart the daemon.
	VRRP []VRRPInstance
	// Sync is the connection-sync daemons the director starts with
	// (keepalived's lvs_sync_daemon, YAML's sync:); nil for none. Read at
	// start, like VRRP.
	Sync *SyncConfig
	// BGP is the bgp: block (YAML only): the routers the VIPs of healthy
	// services are announced to; nil for none. The daemon applies a
	// reload's neighbor changes and asks for a restart for the rest.
	BGP *BGPConfig
	// Warnings lists what was read but is not acted on, each as
	// "file:line: what".
	Warnings []string
}

// PathProbe is one check of a DR or TUN real server whose probe can travel
// the forwarded packets' way: addressed to the service's VIP:port and
// delivered to the real server's MAC (DR) or encapsulated to it (TUN).
type PathProbe struct {
	Service service.Key
	Real    service.Real
	// VIP is the address and port the probe is sent to.
	VIP netip.AddrPort
	// Net is the checker's own Net: the daemon sets its Enter, Mark and
	// Via to route the probe.
	Net *health.Net
	// Off is the check's opt-out (path-true false in YAML).
	Off bool
}

// ReadFile reads the configuration file at path in format (FormatYAML,
// FormatKeepalived, or "" to tell from its contents) and validates it as a
// whole.
func ReadFile(path, format string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if format == "" {
		format = DetectFormat(data)
	}
	switch format {
	case FormatYAML:
		return parseYAMLFile(path, data)
	case FormatKeepalived:
		return parseKeepalivedFile(path, data)
	}
	return nil, fmt.Errorf("%s: unknown configuration format %q (want %s or %s)", path, format, FormatYAML, FormatKeepalived)
}

// DetectFormat tells a keepalived.conf from YAML: keepalived's grammar opens
// blocks with "{" on a keyword's line, which YAML only has in flow
// mappings, so a file whose first statement is a keyword followed by a
// block (or one of keepalived's top-level keywords) is keepalived's.
func DetectFormat(data []byte) string {
	for _, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' || line[0] == '!' {
			continue
		}
		word, _, _ := bytes.Cut(line, []byte(" "))
		switch string(bytes.TrimRight(word, "{")) {
		case "global_defs", "virtual_server", "virtual_server_group", "vrrp_instance", "vrrp_script",
			"vrrp_sync_group", "include", "static_ipaddress", "static_routes", "real_server":
			return FormatKeepalived
		}
		return FormatYAML
	}
	return FormatYAML
}

// parseYAMLFile reads the YAML format (see ParseConfig): the services, then
// their check: blocks, which need the services' real servers normalized.
func parseYAMLFile(path string, data []byte) (*File, error) {
	f := &File{Path: path, Format: FormatYAML, Services: &service.Config{}}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return f, nil
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p := parser{file: path}
	if err := p.secondDocument(dec); err != nil {
		return nil, err
	}
	if err := p.duplicateKeys(&root, ""); err != nil {
		return nil, err
	}
	cfg, nodes, err := p.config(&root)
	if err != nil {
		return nil, err
	}
	f.Services = cfg
	if err := p.checks(f, nodes); err != nil {
		return nil, err
	}
	if err := p.vrrp(f); err != nil {
		return nil, err
	}
	if f.Sync, err = p.syncBlock(&root, f); err != nil {
		return nil, err
	}
	if f.BGP, err = p.bgpBlock(&root); err != nil {
		return nil, err
	}
	return f, nil
}
