package control

import (
	"errors"
	"net/netip"
	"time"
)

// BGPStatus is the announcer's state (xvsadm -L --bgp, the bgp request).
type BGPStatus struct {
	ASN      uint32     `json:"asn"`
	RouterID netip.Addr `json:"router_id"`
	// Drained says xvsadm --drain withdrew everything; Healthy still
	// lists what would be announced without it.
	Drained bool `json:"drained"`
	// Healthy is the VIP prefixes the services' health wants announced;
	// Announced what is in the announcer's table now (empty while drained).
	Healthy   []netip.Prefix  `json:"healthy"`
	Announced []netip.Prefix  `json:"announced"`
	Peers     []BGPPeerStatus `json:"peers"`
}

// BGPPeerStatus is one neighbor's session.
type BGPPeerStatus struct {
	Address netip.Addr `json:"address"`
	ASN     uint32     `json:"asn"`
	Port    uint16     `json:"port"`
	// State is the session's FSM state in RFC 4271's words, lower case:
	// idle, connect, active, opensent, openconfirm, established.
	State string `json:"state"`
	// Up is when the session was established (zero unless State is
	// established).
	Up time.Time `json:"up,omitzero"`
	// PrefixesSent is how many prefixes the router has from us now;
	// UpdatesSent counts the UPDATE messages sent on this session.
	PrefixesSent uint64 `json:"prefixes_sent"`
	UpdatesSent  uint64 `json:"updates_sent"`
	// Flops counts the session's falls from established.
	Flops uint64 `json:"flops"`
	// LastError is why the session last went down, if it did.
	LastError string `json:"last_error,omitempty"`
}

// BGPControl is what the server's bgp, drain and undrain requests drive;
// the daemon's announcer wiring is one.
type BGPControl interface {
	BGPStatus() BGPStatus
	// Drain withdraws every prefix (on) or announces the healthy ones
	// again (off); forwarding goes on either way.
	Drain(on bool) error
}

// ErrNoBGP answers bgp, drain and undrain on a daemon without a bgp: block.
var ErrNoBGP = errors.New("BGP is not configured (the file has no bgp: block)")

// CodeNoBGP is ErrNoBGP's wire code.
const CodeNoBGP = "no-bgp"

// WithBGP sets what the bgp, drain and undrain requests drive; without
// it they answer CodeNoBGP.
func WithBGP(bc BGPControl) Option {
	return func(s *Server) { s.bgp = bc }
}

// doBGP answers the bgp, drain and undrain requests.
func (s *Server) doBGP(req *Request) (*Response, error) {
	if s.bgp == nil {
		return nil, ErrNoBGP
	}
	switch req.Op {
	case OpDrain, OpUndrain:
		on := req.Op == OpDrain
		if err := s.bgp.Drain(on); err != nil {
			return nil, err
		}
		s.log.Info("control: bgp drain", "on", on)
	}
	st := s.bgp.BGPStatus()
	return &Response{BGP: &st}, nil
}

// BGP returns the daemon's announcer state (xvsadm -L --bgp).
func (c *Client) BGP() (BGPStatus, error) {
	return c.bgpCall(OpBGP)
}

// Drain withdraws every announced prefix and keeps forwarding (on), or
// announces the healthy ones again (off): xvsadm --drain, --undrain.
func (c *Client) Drain(on bool) (BGPStatus, error) {
	if on {
		return c.bgpCall(OpDrain)
	}
	return c.bgpCall(OpUndrain)
}

func (c *Client) bgpCall(op Op) (BGPStatus, error) {
	resp, err := c.call(&Request{Op: op})
	if err != nil || resp.BGP == nil {
		return BGPStatus{}, err
	}
	return *resp.BGP, nil
}
