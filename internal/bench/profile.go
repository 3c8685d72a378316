package bench

import (
	"os"
	"runtime/pprof"
)

// Profiles names the profile files of a measurement; "" = none.
type Profiles struct {
	CPU string // a CPU profile from Start to its stop
	Mem string // an allocation profile, written by stop (best effort)
}

// Start starts the CPU profile; stop writes the allocation profile, then
// stops and closes the CPU profile. The error is the CPU profile's.
func (p Profiles) Start() (stop func(), err error) {
	var cpu *os.File
	if p.CPU != "" {
		if cpu, err = os.Create(p.CPU); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			_ = cpu.Close()
			return nil, err
		}
	}
	return func() {
		if p.Mem != "" {
			if f, err := os.Create(p.Mem); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				_ = f.Close()
			}
		}
		if cpu != nil {
			pprof.StopCPUProfile()
			_ = cpu.Close()
		}
	}, nil
}
