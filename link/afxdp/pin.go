package afxdp

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/xvs-project/xvs/internal/xdpprog"
)

// DefaultPinDir is where xvs run pins the steering links unless told
// otherwise (Options.PinDir).
const DefaultPinDir = xdpprog.DefaultPinDir

// preparePins makes dir ready for the pins of this network namespace,
// returns their directory, and removes those a predecessor left on
// interfaces this Open does not serve (a crashed run with another
// configuration): their programs would drop that traffic for good.
func preparePins(dir string, ifaces []string) (string, error) {
	if err := xdpprog.PreparePinDir(dir); err != nil {
		return "", err
	}
	nsDir, err := xdpprog.NetnsDir(dir)
	if err != nil {
		return "", err
	}
	return nsDir, xdpprog.ClearPins(nsDir, func(name string) bool { return slices.Contains(ifaces, name) })
}

// ClearPins removes every steering link this network namespace's daemon
// pinned under dir, detaching the programs no process holds: what a daemon
// that crashed left behind, for a start with another backend, which the
// programs would starve. A missing dir holds nothing.
func ClearPins(dir string) error {
	nsDir, err := xdpprog.NetnsDir(dir)
	if err != nil {
		return err
	}
	return xdpprog.ClearPins(nsDir, nil)
}

// attach puts xi's steering program on its interface: it adopts the link a
// predecessor pinned under pinDir where there is one in a usable mode (the
// predecessor's program keeps holding the traffic until the first Steer
// swaps this one in), else attaches afresh and, with a pinDir, pins the
// link.
func attach(xi *xdpIface, mode xdpprog.Mode, pinDir string, log *slog.Logger) error {
	if pinDir == "" {
		if err := xi.steer.Attach(xi.index, mode); err != nil {
			return fmt.Errorf("interface %q: attaching XDP: %w", xi.name, err)
		}
		return nil
	}
	path := xdpprog.PinPath(pinDir, xi.name)
	ok, err := xi.steer.Adopt(path, xi.index, mode)
	if err != nil {
		log.Warn("a pinned steering link could not be adopted; attaching afresh", "interface", xi.name, "pin", path, "err", err)
	}
	if ok {
		log.Info("adopted the steering link a previous daemon pinned", "interface", xi.name, "pin", path,
			"mode", xi.steer.Mode().String())
		return nil
	}
	if err := xi.steer.Attach(xi.index, mode); err != nil {
		return fmt.Errorf("interface %q: attaching XDP: %w", xi.name, err)
	}
	if err := xi.steer.Pin(path); err != nil {
		return fmt.Errorf("interface %q: %w", xi.name, err)
	}
	return nil
}
