package objstore

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkWrite64MiB creates, fills (one copy) and seals a 64 MiB object.
func BenchmarkWrite64MiB(b *testing.B) {
	const size = 64 << 20
	s := newStore(b, 2*size, time.Second)
	ctx := context.Background()
	src := pattern(size, 1)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		id := newID()
		path, err := s.Create(ctx, id, size)
		if err != nil {
			b.Fatal(err)
		}
		w, err := OpenWriter(path, size)
		if err != nil {
			b.Fatal(err)
		}
		copy(w.Bytes(), src)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		if err := s.Seal(id); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Delete(id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkMapReadOnly64MiB is the first map of a fresh 64 MiB object (the
// previous iteration's view released). SetBytes makes the MB/s column the
// object size over the time to get a readable view of it.
func BenchmarkMapReadOnly64MiB(b *testing.B) {
	const size = 64 << 20
	s := newStore(b, size, time.Second)
	ctx := context.Background()
	src := pattern(size, 2)
	b.SetBytes(size)
	b.ResetTimer()
	var v []byte
	for range b.N {
		b.StopTimer()
		v = nil
		id := newID()
		path, err := s.Put(ctx, id, src)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()
		v, err = MapReadOnly(path, size)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if v[size-1] != src[size-1] {
			b.Fatal("contents differ")
		}
		if err := s.Delete(id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkMapReadOnlyCached maps an object whose view is alive.
func BenchmarkMapReadOnlyCached(b *testing.B) {
	const size = 64 << 20
	s := newStore(b, size, time.Second)
	_, path := mustPut(b, s, pattern(size, 3))
	keep, err := MapReadOnly(path, size)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		v, err := MapReadOnly(path, size)
		if err != nil || &v[0] != &keep[0] {
			b.Fatal("not the cached view", err)
		}
	}
	b.StopTimer()
	runtime.KeepAlive(keep)
}

// BenchmarkMapReadOnly256MiBAfterGC maps a 256 MiB object again and again,
// releasing the previous view (GC and finalizer) before each map, so the
// view's heap range is reused memory. It compares allocating the range with
// make (which zeroes reused memory) with the non-zeroing allocation that
// MapReadOnly uses, and reports the peak RSS growth during the map.
func BenchmarkMapReadOnly256MiBAfterGC(b *testing.B) {
	for _, bc := range []struct {
		name   string
		zeroed bool
	}{{"nozero", false}, {"make", true}} {
		b.Run(bc.name, func(b *testing.B) {
			const size = 256 << 20
			s := newStore(b, size, time.Second)
			_, path := mustPut(b, s, pattern(size, 4))
			zeroedAlloc = bc.zeroed
			defer func() { zeroedAlloc = false }()
			canPeak := resetPeakRSS() == nil
			var peak int64
			var v []byte
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				v = nil
				collectUntil(b, func() bool { return liveViews.Load() == 0 })
				runtime.GC() // free the finalized range
				resetPeakRSS()
				rss := readStatusKiB("VmRSS")
				b.StartTimer()
				var err error
				v, err = MapReadOnly(path, size)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				peak += readStatusKiB("VmHWM") - rss
				b.StartTimer()
			}
			b.StopTimer()
			runtime.KeepAlive(v)
			if canPeak {
				b.ReportMetric(float64(peak)/1024/float64(b.N), "peakRSS-MiB/op")
			}
		})
	}
}

// resetPeakRSS resets VmHWM to the current RSS (Linux >= 4.0).
func resetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// readStatusKiB reads a "Name: N kB" field of /proc/self/status.
func readStatusKiB(name string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == name {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
