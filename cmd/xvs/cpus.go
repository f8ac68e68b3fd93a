package main

import (
	"fmt"
	"log/slog"
	"runtime"
	"slices"

	"github.com/xvs-project/xvs/internal/cpuset"
)

// parseCPUFlag reads a CPU list flag and checks that the process may run
// on every CPU in it.
func parseCPUFlag(name, v string) (cpuset.Set, error) {
	s, err := cpuset.Parse(v)
	if err != nil {
		return nil, fmt.Errorf("run: %s: %w", name, err)
	}
	if err := s.CheckAllowed(); err != nil {
		return nil, fmt.Errorf("run: %s %s: %w", name, v, err)
	}
	return s, nil
}

// placeThreads puts the daemon's threads where --worker-cpus and
// --control-cpus say, before the engine starts: every thread there is now
// (and so every one started later from them) goes to the control CPUs,
// which default to the CPUs left over by the workers; each worker pins its
// own thread when it starts (forwarder.Options.WorkerCPUs). GOMAXPROCS is
// set to the CPUs in use, which also stops the runtime from shrinking it
// to the control threads' mask.
func placeThreads(f *runFlags, log *slog.Logger) error {
	if len(f.workerCPUs) == 0 && len(f.controlCPUs) == 0 {
		return nil
	}
	control := f.controlCPUs
	if len(control) == 0 {
		all, err := cpuset.Allowed()
		if err != nil {
			return err
		}
		all = slices.DeleteFunc(all, func(c int) bool { return slices.Contains(f.workerCPUs, c) })
		if len(all) == 0 {
			log.Warn("every CPU has a worker: the control plane shares them", "worker_cpus", f.workerCPUs.String())
		}
		control = all
	}
	if len(control) > 0 {
		if err := cpuset.PinProcess(control); err != nil {
			return err
		}
	}
	procs := len(control.Union(f.workerCPUs))
	runtime.GOMAXPROCS(procs)
	log.Info("threads placed", "worker_cpus", f.workerCPUs.String(), "control_cpus", control.String(), "gomaxprocs", procs)
	return nil
}
