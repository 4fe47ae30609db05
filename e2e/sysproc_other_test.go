//go:build !linux

package e2e

import (
	"os"
	"syscall"
)

// childAttr: no parent-death signal outside Linux; t.Cleanup kills the
// children.
func childAttr() *syscall.SysProcAttr { return nil }

// killGroup kills p (outside Linux, p alone).
func killGroup(p *os.Process) error { return p.Kill() }
