// Package resources is arithmetic on resource sets: CPU, GPU, memory and
// custom resources, as quantities that may be fractional.
//
// Quantities are kept in fixed point (1/10000 units) so that 0.1+0.2 CPUs
// add up exactly, as Ray does. A Set never holds zero entries.
package resources

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Standard resource names, as in Ray.
const (
	CPU               = "CPU"
	GPU               = "GPU"
	Memory            = "memory"
	ObjectStoreMemory = "object_store_memory"
)

// unit is the fixed-point scale.
const unit = 10000

// Set maps resource names to quantities in fixed point.
type Set map[string]int64

// FromFloats converts user-facing quantities. Negative or NaN quantities are
// an error; zeros are dropped.
func FromFloats(m map[string]float64) (Set, error) {
	s := make(Set, len(m))
	for k, v := range m {
		if k == "" {
			return nil, fmt.Errorf("resources: empty resource name")
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, fmt.Errorf("resources: %s = %v: quantities must be finite and >= 0", k, v)
		}
		if q := int64(math.Round(v * unit)); q > 0 {
			s[k] = q
		}
	}
	return s, nil
}

// Floats converts back to user-facing quantities.
func (s Set) Floats() map[string]float64 {
	m := make(map[string]float64, len(s))
	for k, v := range s {
		m[k] = float64(v) / unit
	}
	return m
}

// Get returns the quantity of one resource.
func (s Set) Get(name string) float64 { return float64(s[name]) / unit }

// Clone copies s.
func (s Set) Clone() Set { return maps.Clone(s) }

// Fits reports whether req fits in s.
func (s Set) Fits(req Set) bool {
	for k, v := range req {
		if s[k] < v {
			return false
		}
	}
	return true
}

// Sub subtracts req from s (entries may go negative: oversubscription while
// a blocked worker takes its CPU back).
func (s Set) Sub(req Set) {
	for k, v := range req {
		s[k] -= v
	}
}

// Add adds req to s.
func (s Set) Add(req Set) {
	for k, v := range req {
		s[k] += v
	}
}

// Only returns the part of s named by names.
func (s Set) Only(names ...string) Set {
	out := Set{}
	for _, n := range names {
		if v, ok := s[n]; ok {
			out[n] = v
		}
	}
	return out
}

// Key is a canonical string for the set, usable as a map key (a task's
// scheduling class).
func (s Set) Key() string {
	if len(s) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(s))
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(s[k], 10))
	}
	return b.String()
}

// String renders the set for people: {CPU: 1, alice: 2}.
func (s Set) String() string {
	keys := slices.Sorted(maps.Keys(s))
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %s", k, strconv.FormatFloat(float64(s[k])/unit, 'f', -1, 64))
	}
	b.WriteByte('}')
	return b.String()
}
