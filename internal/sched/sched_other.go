//go:build !linux

package sched

const supported = false

func setBatch(int) (bool, error) { return false, ErrUnsupported }
