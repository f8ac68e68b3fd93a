package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xvs-project/xvs/link/afpacket"
)

// ErrXVSUnavailable marks xvs scenarios that could not run because bin/xvs
// is missing or did not start; the report says why. Baselines still run.
var ErrXVSUnavailable = errors.New("xvs unavailable")

// xvsConfig writes the daemon's YAML (control.ParseConfig's format): the
// bulk, probe and SYN services on the VIP, every real server with the
// scenario's forwarding method, round robin.
func xvsConfig(vip netip.Addr, reals []netip.Addr, method string) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for _, s := range []struct {
		proto string
		port  int
	}{{"udp", bulkPort}, {"udp", probePort}, {"tcp", synPort}} {
		fmt.Fprintf(&b, "  - proto: %s\n    vip: %s\n    port: %d\n    scheduler: rr\n    reals:\n", s.proto, vip, s.port)
		for _, a := range reals {
			fmt.Fprintf(&b, "      - {address: %s, port: %d, weight: 1, method: %s}\n", a, s.port, method)
		}
	}
	return b.String()
}

// xvsDirector is a running bin/xvs.
type xvsDirector struct {
	r       *runner
	lab     *Lab
	p       *proc
	sock    string
	backend string
	// syncBackup is the bench's backup of xvs-nat-sync (sync.go).
	syncBackup *syncListener
}

// startXVS runs `bin/xvs run --backend backend` in the director namespace
// with the configuration of method and waits until its control socket
// answers; with checked > 0 the configuration is keepalivedConfig's and it
// also waits until all checked checkers are up. The first failure to start marks xvs unavailable for the run
// (unless -xvs=require); a later one is an error, because xvs did work
// earlier in the run.
//
// syncRole "master" or "backup" adds a sync daemon of that role on the
// director's client-side interface to the YAML (syncConfig); "" none.
func (r *runner) startXVS(ctx context.Context, lab *Lab, method, backend string, checked int, syncRole string, extra ...string) (Director, error) {
	if r.xvsErr != nil {
		return nil, r.xvsErr
	}
	return r.xvsStarted(r.launchXVS(ctx, lab, method, backend, checked, syncRole, extra...))
}

// xvsStarted turns a daemon's start into startXVS's answer: the first
// failure marks xvs unavailable for the run (unless -xvs=require), a later
// one is an error.
func (r *runner) xvsStarted(d *xvsDirector, err error) (Director, error) {
	if err == nil {
		r.xvsWorked = true
		return d, nil
	}
	if !r.xvsWorked && r.opts.XVSMode != "require" {
		r.xvsErr = fmt.Errorf("%w: %w", ErrXVSUnavailable, err)
		return nil, r.xvsErr
	}
	return nil, err
}

// xvsCapacity is the connection table's capacity for the trial starting:
// Options.XVSCapacity, or for a load with more flows the power of two
// that holds them with a quarter to spare.
func (r *runner) xvsCapacity() int {
	c := r.opts.XVSCapacity
	for c > 0 && c < r.flows+r.flows/4 {
		c *= 2
	}
	return c
}

func (r *runner) launchXVS(ctx context.Context, lab *Lab, method, backend string, checked int, syncRole string, extra ...string) (*xvsDirector, error) {
	cfgPath, cfg := filepath.Join(r.tmp, "xvs-"+method+".yaml"), xvsConfig(lab.VIP, lab.RealAddrs(), method)
	if checked > 0 {
		cfgPath = filepath.Join(r.tmp, "xvs-"+method+"-checks.conf")
		cfg = keepalivedConfig(lab.VIP, lab.RealAddrs(), method, checksHost(lab), checked)
	}
	if syncRole != "" {
		cfgPath = filepath.Join(r.tmp, "xvs-"+method+"-sync-"+syncRole+".yaml")
		cfg += syncConfig(syncRole, lab.DirExt)
	}
	d, err := r.execXVS(ctx, lab, "xvs "+method+" "+backend, cfgPath, cfg, backend, extra...)
	if err != nil || checked == 0 {
		return d, err
	}
	// The first probes come within keepalived's bootstrap delay and
	// warmup (about two delay_loops); on a machine other jobs swamp,
	// a checker may fail them and need a whole down-and-up cycle
	// ((retry+1) connect timeouts, a retry delay and a delay_loop).
	// One not up after that, twice over, is a broken setup.
	wait := 2 * (2*checkDelayLoop + (checkRetry+1)*checkConnectTimeout + checkRetry*checkRetryDelay + checkDelayLoop)
	if err := d.waitChecksUp(ctx, checked, wait); err != nil {
		_ = d.p.stop(5 * time.Second)
		return nil, err
	}
	return d, nil
}

// execXVS writes cfg to cfgPath and runs `bin/xvs run --backend backend`
// with it on lab's director (DirNS, DirExt and DirInt are all it reads),
// and waits until the daemon's control socket answers and, for the
// AF_PACKET backend, its nftables table is there.
func (r *runner) execXVS(ctx context.Context, lab *Lab, name, cfgPath, cfg, backend string, extra ...string) (*xvsDirector, error) {
	bin, err := filepath.Abs(r.opts.XVS)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s not found (run make build)", r.opts.XVS)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	sock := filepath.Join(r.tmp, "xvs.sock")
	_ = os.Remove(sock)
	ifaces := lab.DirExt
	if lab.DirInt != lab.DirExt {
		ifaces += "," + lab.DirInt
	}
	argv := []string{"ip", "netns", "exec", lab.DirNS, "env", "XVS_SOCKET=" + sock, bin, "run",
		"-i", ifaces, "--backend", backend, "--config", cfgPath, "--socket", sock, "--capacity", strconv.Itoa(r.xvsCapacity())}
	if cpu := r.dirCPU(); cpu >= 0 {
		// The workers get the director's core to themselves and the rest
		// of the daemon (checks, sync, the Go runtime) goes to the
		// generator's, the layout xvs run offers a dedicated director.
		argv = append(argv, "--worker-cpus", strconv.Itoa(cpu), "--control-cpus", strconv.Itoa(r.genCPU()))
	}
	argv = append(argv, extra...)
	p, err := startProc(ctx, name, -1, argv, false)
	if err != nil {
		return nil, err
	}
	d := &xvsDirector{r: r, lab: lab, p: p, sock: sock, backend: backend}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p.exited() {
			return nil, fmt.Errorf("bin/xvs exited at start: %v: %s", p.err, lastLines(p.stderr.String(), 3))
		}
		if _, err := os.Stat(sock); err == nil {
			if _, err := d.adm(ctx, "-Ln"); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = p.stop(2 * time.Second)
			return nil, fmt.Errorf("bin/xvs not ready after 10s: %s", lastLines(p.stderr.String(), 3))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if backend == backendAFP {
		// Proof that the flag took: the AF_PACKET backend's nftables table
		// is there (the AF_XDP backend makes none).
		tables, err := afpTables(ctx, lab.DirNS, r.opts.NftPath)
		if err == nil && len(tables) == 0 {
			err = fmt.Errorf("no %s* nftables table in %s", afpacket.TablePrefix, lab.DirNS)
		}
		if err != nil {
			_ = p.stop(2 * time.Second)
			return nil, fmt.Errorf("bin/xvs --backend %s: %w", backend, err)
		}
	}
	return d, nil
}

// adm runs bin/xvsadm against this daemon.
func (d *xvsDirector) adm(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.r.opts.XVSAdm, args...)
	cmd.Env = append(os.Environ(), "XVS_SOCKET="+d.sock)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("xvsadm %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Stats returns `xvsadm -Ln --stats`.
func (d *xvsDirector) Stats(ctx context.Context) (string, error) {
	return d.adm(ctx, "-Ln", "--stats")
}

// Pid returns the daemon's pid (the innermost process of the exec chain).
func (d *xvsDirector) Pid() int { return d.p.cmd.Process.Pid }

// Stop ends the daemon with SIGTERM; it must exit cleanly (it removes its
// XDP programs, or the AF_PACKET backend its nftables table, on the way
// out).
func (d *xvsDirector) Stop() error {
	if d.syncBackup != nil {
		defer d.syncBackup.close()
	}
	if d.p.exited() {
		return fmt.Errorf("bin/xvs died during the trial: %v: %s", d.p.err, lastLines(d.p.stderr.String(), 3))
	}
	err := d.p.stop(5 * time.Second)
	if d.backend == backendAFP {
		err = errors.Join(err, removeAFPTables(d.lab.DirNS, d.r.opts.NftPath))
	}
	return err
}

// lastLines returns the last n lines of s, joined with " | ".
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func readFileTrim(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}
