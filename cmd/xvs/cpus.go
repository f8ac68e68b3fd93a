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
// own thread when it starts (forwarder.Options.WorkerCPUs). It returns the
// control CPUs, nil when nothing is placed.
//
// Why the control CPUs need room: a worker is a goroutine locked to its
// thread, and when the Go runtime preempts it (every 10 ms of running) or
// it comes back from a poll and finds no free P, a thread of the control
// CPUs has to hand it back its P. On control CPUs saturated by other work
// that takes a scheduler slice, and the worker's ring overflows meanwhile.
func placeThreads(f *runFlags, log *slog.Logger) (cpuset.Set, error) {
	if len(f.workerCPUs) == 0 && len(f.controlCPUs) == 0 {
		return nil, nil
	}
	control := f.controlCPUs
	if len(control) == 0 {
		all, err := cpuset.Allowed()
		if err != nil {
			return nil, err
		}
		all = slices.DeleteFunc(all, func(c int) bool { return slices.Contains(f.workerCPUs, c) })
		if len(all) == 0 {
			log.Warn("every CPU has a worker: the control plane shares them", "worker_cpus", f.workerCPUs.String())
		}
		control = all
	}
	if len(control) > 0 {
		if err := cpuset.PinProcess(control); err != nil {
			return nil, err
		}
	}
	log.Info("threads placed", "worker_cpus", f.workerCPUs.String(), "control_cpus", control.String())
	return control, nil
}

// sizeProcs sets GOMAXPROCS for placed threads: one P for each worker,
// which holds it while it forwards, and one for each control CPU, so a
// worker back from a poll finds a free P without waiting for a control
// thread to give it one. Setting it also stops the runtime from shrinking
// it to the control threads' mask.
func sizeProcs(control cpuset.Set, workers int, log *slog.Logger) {
	procs := max(len(control), 1) + workers
	runtime.GOMAXPROCS(procs)
	log.Debug("GOMAXPROCS set", "procs", procs)
}
