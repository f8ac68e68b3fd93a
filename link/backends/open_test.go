package backends

import (
	"errors"
	"testing"

	"github.com/xvs-project/xvs/link/afpacket"
)

func TestOpenUnknownKind(t *testing.T) {
	b, err := Open("dpdk", []string{"lo"}, Options{})
	if !errors.Is(err, ErrUnknownKind) || b != nil {
		t.Fatalf("Open(dpdk) = %v, %v; want nil, ErrUnknownKind", b, err)
	}
}

// A failed open returns a nil interface, not a typed nil the caller would
// take for a backend.
func TestOpenErrorIsNil(t *testing.T) {
	b, err := Open(AFPacket, nil, Options{})
	if !errors.Is(err, afpacket.ErrNoInterfaces) || b != nil {
		t.Fatalf("Open(afpacket, no interfaces) = %v, %v; want nil, ErrNoInterfaces", b, err)
	}
}
