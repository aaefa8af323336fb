//go:build !unix

package main

import (
	"errors"
	"os"
)

func freeze(*os.Process) error { return errors.New("no SIGSTOP here") }
func thaw(*os.Process) error   { return errors.New("no SIGCONT here") }
