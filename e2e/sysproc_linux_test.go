package e2e

import (
	"os"
	"syscall"
)

// childAttr makes the kernel kill a child server if the test binary dies
// first (a test timeout, a panic), so no server outlives its test, and
// puts it in a process group of its own, so killGroup can take it down
// with everything it started at once, as a crash would.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// killGroup sends SIGKILL to p's whole process group.
func killGroup(p *os.Process) error {
	return syscall.Kill(-p.Pid, syscall.SIGKILL)
}
