package keepalived

import (
	"errors"
	"net/netip"
	"strconv"

	"github.com/xvs-project/xvs/service"
)

// Errors of Services in keepalived's words: the service package's validation errors put back
// on the keyword and line they are about.

// where names a virtual server as the parser's errors do.
func where(v *VirtualServer) string {
	switch {
	case v.Group != "":
		return "virtual_server group " + v.Group
	case v.FWMark != 0:
		return "virtual_server fwmark " + strconv.FormatUint(uint64(v.FWMark), 10)
	}
	return "virtual_server " + v.Addr.String() + " " + strconv.Itoa(int(v.Port))
}

func realWhere(r *RealServer) string {
	return "real_server " + r.Addr.String() + " " + strconv.Itoa(int(r.Port))
}

func realName(r service.Real) string {
	if r.Port == 0 {
		return r.Addr.String() + " on every port"
	}
	return netip.AddrPortFrom(r.Addr, r.Port).String()
}

// The service package's field names, by the keepalived keyword that sets each.
var serviceFields = map[string]string{
	"protocol":   "protocol",
	"scheduler":  "lb_algo",
	"persistent": "persistence_timeout",
	"netmask":    "persistence_granularity",
}

var realFields = map[string]string{
	"weight":          "weight",
	"lower-threshold": "lthreshold",
	"method":          "lb_kind",
	"tun-type":        "lb_kind",
	"tun-port":        "lb_kind",
	"tun-csum":        "lb_kind",
}

func isMethodError(err error) bool {
	var fe *service.FieldError
	return errors.As(err, &fe) && realFields[fe.Field] == "lb_kind"
}

// fieldMsg is what a validation error says, without the service package's names for the
// object and field (the *Error names them keepalived's way).
func fieldMsg(err error) string {
	var fe *service.FieldError
	if !errors.As(err, &fe) {
		return err.Error()
	}
	if errors.Is(err, service.ErrZeroPort) {
		return "port 0 (every port) needs persistence_timeout, as in IPVS"
	}
	return fe.Msg
}

func (v *VirtualServer) serviceError(err error) error {
	var fe *service.FieldError
	p, key := v.Pos, ""
	if errors.As(err, &fe) {
		if f, ok := serviceFields[fe.Field]; ok {
			p, key = v.place(f)
		}
	}
	return &Error{Pos: p, Where: where(v), Field: key, Msg: fieldMsg(err)}
}

func realError(v *VirtualServer, r *RealServer, err error) error {
	var fe *service.FieldError
	p, key := r.Pos, ""
	if errors.As(err, &fe) {
		switch f := realFields[fe.Field]; f {
		case "lb_kind":
			p, key = r.methodPlace(v)
		case "":
		default:
			if t, ok := r.at[f]; ok {
				p, key = t.pos, t.text
			}
		}
	}
	return &Error{Pos: p, Where: realWhere(r), Msg: fieldMsg(err), Field: key}
}
