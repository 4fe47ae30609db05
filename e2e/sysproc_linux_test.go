package e2e

import "syscall"

// childAttr makes the kernel kill a child server if the test binary dies
// first (a test timeout, a panic), so no server outlives its test.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
