package exporter

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Once scrapes go quiet, memory a large one left behind is handed back to
// the system. The Go runtime returns freed pages by itself only slowly, so
// without this one /probe of a huge (or endless) upstream kept its peak
// resident for good. A forced collection with a small live heap costs a
// few milliseconds; it runs at most once per quiet period.
const (
	DefaultQuietPeriod  = 30 * time.Second
	defaultReturnAbove  = 64 << 20 // resident Go memory worth returning
	memoryResidentTotal = "/memory/classes/total:bytes"
	memoryReleased      = "/memory/classes/heap/released:bytes"
)

type memReturner struct {
	quiet time.Duration
	above uint64
	// resident and free are the runtime's (replaced in tests).
	resident func() uint64
	free     func()

	mu sync.Mutex
	t  *time.Timer
}

func newMemReturner() *memReturner {
	return &memReturner{quiet: DefaultQuietPeriod, above: defaultReturnAbove, resident: goResident, free: debug.FreeOSMemory}
}

// scraped notes the end of a scrape: the check runs once nothing has
// been scraped for the quiet period.
func (m *memReturner) scraped() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.t == nil {
		m.t = time.AfterFunc(m.quiet, m.check)
		return
	}
	m.t.Reset(m.quiet)
}

func (m *memReturner) check() {
	if m.resident() > m.above {
		m.free()
	}
}

// goResident is the memory the Go runtime holds from the system and has
// not released back.
func goResident() uint64 {
	s := []metrics.Sample{{Name: memoryResidentTotal}, {Name: memoryReleased}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}
