package admin

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xvs-project/xvs/control"
)

// BGPBackend is a Backend whose daemon announces its VIPs over BGP
// (xvsadm -L --bgp, --drain, --undrain); *control.Client is one.
type BGPBackend interface {
	BGP() (control.BGPStatus, error)
	Drain(on bool) (control.BGPStatus, error)
}

// checkBGP enforces where --bgp may appear: as --drops and --mh (only
// with -L, not with another listing or a service).
func (p *parser) checkBGP() error {
	c := &p.cmd
	if err := p.checkListing("bgp", c.BGP); err != nil || !c.BGP {
		return err
	}
	for _, o := range []struct {
		name string
		on   bool
	}{{"drops", c.Drops}, {"mh", c.MH}} {
		if o.on {
			return syntaxf(ErrConflict, "The option 'bgp' conflicts with the '%s' option in the '%s' command", o.name, c.Op)
		}
	}
	return nil
}

// ListBGP prints xvsadm -L --bgp: the speaker, one line per peer (state,
// how long it has been up, prefixes it has from us, updates sent, why it
// last went down), then the announced prefixes, and the healthy ones held
// back while drained.
func ListBGP(w io.Writer, st control.BGPStatus, now time.Time) error {
	drained := ""
	if st.Drained {
		drained = " (drained: every prefix withdrawn; xvsadm --undrain announces them again)"
	}
	fmt.Fprintf(w, "BGP AS %d router-id %s%s\n", st.ASN, st.RouterID, drained)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tAS\tSTATE\tUP\tPREFIXES\tUPDATES\tLAST ERROR")
	for _, p := range st.Peers {
		up, why := "-", "-"
		if !p.Up.IsZero() {
			up = now.Sub(p.Up).Truncate(time.Second).String()
		}
		if p.LastError != "" {
			why = p.LastError
		}
		addr := p.Address.String()
		if p.Port != 0 && p.Port != control.DefaultBGPPort {
			addr = netip.AddrPortFrom(p.Address, p.Port).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%s\n", addr, p.ASN, p.State, up, p.PrefixesSent, p.UpdatesSent, why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "Announced: %s\n", prefixList(st.Announced))
	if st.Drained {
		fmt.Fprintf(w, "Healthy (held back): %s\n", prefixList(st.Healthy))
	}
	return nil
}

func prefixList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "-"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

// runBGP runs -L --bgp, --drain and --undrain.
func runBGP(cmd *Command, b Backend, w io.Writer) error {
	bb, ok := b.(BGPBackend)
	if !ok {
		return syntaxf(ErrUnsupported, "this daemon does not announce over BGP")
	}
	var st control.BGPStatus
	var err error
	switch cmd.Op {
	case OpDrain, OpUndrain:
		st, err = bb.Drain(cmd.Op == OpDrain)
	default:
		st, err = bb.BGP()
	}
	if err != nil {
		return err
	}
	if cmd.Op != OpList {
		return nil
	}
	return ListBGP(w, st, time.Now())
}
