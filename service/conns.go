package service

import (
	"net/netip"
	"time"
)

// Conn is one connection entry as ipvsadm -Lc shows it. The addresses are
// values, not text: the engine fills them from its table and the listing
// formats them once, with the names it resolves.
type Conn struct {
	Proto   Proto         `json:"proto"`
	Expires time.Duration `json:"expires"`
	State   string        `json:"state"`
	// Client is the client's address and port. A persistence template
	// holds the client network here (and port 0 unless the service
	// persists by port).
	Client netip.AddrPort `json:"client"`
	// Virtual is where the client sent to. A template of a service group
	// has no single address: Virtual is the zero AddrPort and Group names
	// the group. Both are empty when the template's service is gone.
	Virtual netip.AddrPort `json:"virtual"`
	// Group is the service group of a template, "" otherwise.
	Group string `json:"group,omitempty"`
	// Real is the real server's address and port; the zero AddrPort when
	// the real server has been deleted since.
	Real netip.AddrPort `json:"real"`
	// Template marks a persistence template (ipvsadm shows it as "NONE" state
	// with the client network and port 0).
	Template bool   `json:"template"`
	InPkts   uint64 `json:"inpkts"`
	OutPkts  uint64 `json:"outpkts"`
	InBytes  uint64 `json:"inbytes"`
	OutBytes uint64 `json:"outbytes"`
}
