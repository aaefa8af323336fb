//go:build unix

package main

import (
	"os"
	"syscall"
)

// freeze stops p (SIGSTOP) as a long pause or a cut-off host would; thaw resumes it.
func freeze(p *os.Process) error { return p.Signal(syscall.SIGSTOP) }
func thaw(p *os.Process) error   { return p.Signal(syscall.SIGCONT) }
