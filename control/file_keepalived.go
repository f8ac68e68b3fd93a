package control

import (
	"github.com/xvs-project/xvs/keepalived"
	"github.com/xvs-project/xvs/service"
)

// parseKeepalivedFile reads keepalived.conf: its virtual servers become
// services (package keepalived maps them), each with its checks as
// keepalived's checker process would run them, its vrrp_instances the
// daemon's VRRP instances, and lvs_sync_daemon its sync daemon.
func parseKeepalivedFile(path string, data []byte) (*File, error) {
	kc, err := keepalived.Loader{}.Parse(path, data)
	if err != nil {
		return nil, err
	}
	cfg, warns, err := kc.Services()
	if err != nil {
		return nil, err
	}
	f := &File{Path: path, Format: FormatKeepalived, Services: cfg}
	for _, w := range append(kc.Warnings, warns...) {
		f.Warnings = append(f.Warnings, w.String())
	}
	// Services()[i] is Forwarded()[i], their real servers one for one.
	for i, v := range kc.Forwarded() {
		var sorry *service.Real
		if r, ok := v.SorryReal(); ok {
			sorry = &r
		}
		if err := addChecks(f, &cfg.Services[i], v, sorry, func(int, int) bool { return true }); err != nil {
			return nil, err
		}
	}
	if f.VRRP, err = vrrpInstances(kc); err != nil {
		return nil, err
	}
	keepalivedSync(f, kc.Global.SyncDaemon)
	return f, nil
}

// vrrpInstances maps kc's vrrp_instances onto what the daemon runs: the
// instance with global_defs' defaults, its notify scripts, and its
// tracking over kc's vrrp_scripts. Both formats read their instances
// through it.
func vrrpInstances(kc *keepalived.Config) ([]VRRPInstance, error) {
	var out []VRRPInstance
	for _, v := range kc.VRRPInstances {
		in := VRRPInstance{Instance: v.Instance(kc.Global), Scripts: v.Scripts()}
		var err error
		if in.Tracks, err = v.Tracks(kc.VRRPScripts); err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}
