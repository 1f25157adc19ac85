package sched

import (
	"errors"

	"golang.org/x/sys/unix"
)

const supported = true

// setBatch moves thread tid from SCHED_OTHER to SCHED_BATCH, keeping its
// nice value; it reports whether it moved it.
func setBatch(tid int) (bool, error) {
	attr, err := unix.SchedGetAttr(tid, 0)
	if errors.Is(err, unix.ESRCH) {
		return false, errGone
	}
	if err != nil {
		return false, err
	}
	if attr.Policy != unix.SCHED_NORMAL {
		return false, nil
	}
	attr.Policy = unix.SCHED_BATCH
	err = unix.SchedSetAttr(tid, attr, 0)
	if errors.Is(err, unix.ESRCH) {
		return false, errGone
	}
	return err == nil, err
}
