package core

import (
	"reflect"
	"testing"
)

func TestShrinkAfterDelete(t *testing.T) {
	var s shrinker
	m := map[int]int{}
	for i := range 4 * shrinkMin {
		m[i] = i
	}
	rebuilds := 0
	for i := range 4 * shrinkMin {
		delete(m, i)
		before := m
		m = shrinkAfterDelete(&s, m)
		if len(m) != 4*shrinkMin-i-1 {
			t.Fatalf("after %d deletes: %d entries", i+1, len(m))
		}
		if addrOf(before) != addrOf(m) {
			rebuilds++
			if len(m) > 4*shrinkMin/8 {
				t.Fatalf("rebuilt at %d entries, above an eighth of the peak", len(m))
			}
		}
	}
	// 4·shrinkMin down to 0 rebuilds at n = peak/8 only while the peak is
	// at least shrinkMin: once, at 4·shrinkMin/8 entries.
	if rebuilds != 1 {
		t.Fatalf("%d rebuilds, want 1", rebuilds)
	}
	// Entries survive a rebuild.
	m = map[int]int{}
	s = shrinker{}
	for i := range shrinkMin * 2 {
		m[i] = i * 3
	}
	for i := range shrinkMin*2 - 10 {
		delete(m, i)
		m = shrinkAfterDelete(&s, m)
	}
	for i := shrinkMin*2 - 10; i < shrinkMin*2; i++ {
		if m[i] != i*3 {
			t.Fatalf("entry %d lost: %d", i, m[i])
		}
	}
}

func addrOf(m map[int]int) uintptr { return reflect.ValueOf(m).Pointer() }
