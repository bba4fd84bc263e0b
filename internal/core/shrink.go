package core

// shrinker rebuilds a map that a burst grew and deletions then emptied: Go
// maps never give back their storage, and a big, mostly empty map costs
// cache misses on every access (after a million puts, say, every task's
// lookups would pay for them).
type shrinker struct {
	peak int // the map's size high-water mark since the last rebuild
}

// shrinkMin is the peak below which a map is left alone.
const shrinkMin = 1 << 15

// afterDelete notes that m now has n entries and returns m, or a compact
// copy once n has fallen to an eighth of the peak. Copying n entries after
// at least 7n deletions keeps the cost amortized O(1) per delete.
func shrinkAfterDelete[K comparable, V any](s *shrinker, m map[K]V) map[K]V {
	n := len(m)
	if n+1 > s.peak {
		s.peak = n + 1
	}
	if s.peak < shrinkMin || n > s.peak/8 {
		return m
	}
	out := make(map[K]V, n)
	for k, v := range m {
		out[k] = v
	}
	s.peak = n
	return out
}
