package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/goray/ray/internal/codec"
)

// Arg is one resolved argument as the executor hands it to an invoker:
// encoded bytes, which are a read-only shared-memory view when View is set.
// Owned says the bytes belong to this one call and nothing else reads or
// writes them, so the decoded value may alias them (and be written).
type Arg struct {
	Data  []byte
	View  bool
	Owned bool
}

// Decode decodes a into a T (zero-copy for raw slices from shared memory
// or from a buffer the argument owns).
func Decode[T any](a Arg) (T, error) {
	var v T
	var err error
	if a.View || a.Owned {
		_, err = codec.UnmarshalView(a.Data, &v)
	} else {
		err = codec.Unmarshal(a.Data, &v)
	}
	if err != nil {
		return v, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return v, nil
}

// Func is a registered remote function.
type Func struct {
	Name     string
	Loc      string         // file:line of the registration
	ArgTypes []reflect.Type // parameter types, context excluded
	Variadic bool           // the last ArgType repeats
	Result   reflect.Type   // nil for none
	// Late: registered after Init; workers started from the binary will
	// not have it.
	Late bool
	// Invoke decodes args and calls the function.
	Invoke func(ctx context.Context, args []Arg) (any, error)
}

// ActorType is a registered actor constructor.
type ActorType struct {
	Name     string
	Loc      string
	ArgTypes []reflect.Type
	Late     bool
	New      func(ctx context.Context, args []Arg) (any, error)
}

// Method is a registered actor method.
type Method struct {
	Name     string
	Loc      string
	Actor    reflect.Type // the receiver type
	ArgTypes []reflect.Type
	Result   reflect.Type
	Late     bool
	Invoke   func(ctx context.Context, inst any, args []Arg) (any, error)
}

// Registry holds every registered function, actor type and method. The
// process-wide instance is Default; registration happens at package init so
// the driver and its workers (same binary) agree.
type Registry struct {
	mu      sync.RWMutex
	funcs   map[string]*Func
	actors  map[string]*ActorType
	methods map[string]*Method
	hash    string
	sealed  bool
}

// Seal marks the end of package initialization (Init calls it): later
// registrations are flagged Late, since workers re-running the binary only
// register what package init does.
func (r *Registry) Seal() {
	r.mu.Lock()
	r.sealed = true
	r.mu.Unlock()
}

// Default is the process's registry.
var Default = NewRegistry()

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{funcs: map[string]*Func{}, actors: map[string]*ActorType{}, methods: map[string]*Method{}}
}

func (r *Registry) check(name, loc string) {
	var prev string
	if f, ok := r.funcs[name]; ok {
		prev = f.Loc
	} else if a, ok := r.actors[name]; ok {
		prev = a.Loc
	} else if m, ok := r.methods[name]; ok {
		prev = m.Loc
	} else {
		return
	}
	panic(fmt.Sprintf("ray: %s registered twice (at %s and %s)", name, prev, loc))
}

// AddFunc registers f; a duplicate name panics.
func (r *Registry) AddFunc(f *Func) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check(f.Name, f.Loc)
	f.Late = r.sealed
	r.funcs[f.Name] = f
	r.hash = ""
}

// AddActor registers an actor type; a duplicate name panics.
func (r *Registry) AddActor(a *ActorType) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check(a.Name, a.Loc)
	a.Late = r.sealed
	r.actors[a.Name] = a
	r.hash = ""
}

// AddMethod registers a method; a duplicate name panics.
func (r *Registry) AddMethod(m *Method) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check(m.Name, m.Loc)
	m.Late = r.sealed
	r.methods[m.Name] = m
	r.hash = ""
}

// Func, Actor and Method look registrations up.
func (r *Registry) Func(name string) (*Func, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.funcs[name]
	return f, ok
}

func (r *Registry) Actor(name string) (*ActorType, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.actors[name]
	return a, ok
}

func (r *Registry) Method(name string) (*Method, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.methods[name]
	return m, ok
}

// Hash digests every package-init registration's name and signature. A worker whose
// hash differs from its driver's runs a different binary and is refused.
func (r *Registry) Hash() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hash != "" {
		return r.hash
	}
	var lines []string
	sig := func(ts []reflect.Type) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = t.String()
		}
		return strings.Join(s, ",")
	}
	// Late registrations are left out: a worker re-running the binary
	// never makes them, and they are refused at the caller instead.
	for n, f := range r.funcs {
		if !f.Late {
			lines = append(lines, fmt.Sprintf("f %s(%s)%v", n, sig(f.ArgTypes), f.Result))
		}
	}
	for n, a := range r.actors {
		if !a.Late {
			lines = append(lines, fmt.Sprintf("a %s(%s)", n, sig(a.ArgTypes)))
		}
	}
	for n, m := range r.methods {
		if !m.Late {
			lines = append(lines, fmt.Sprintf("m %s(%s)%v", n, sig(m.ArgTypes), m.Result))
		}
	}
	sort.Strings(lines)
	h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	r.hash = hex.EncodeToString(h[:8])
	return r.hash
}

// Names lists registered names, sorted (for messages).
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for n := range r.funcs {
		out = append(out, n)
	}
	for n := range r.actors {
		out = append(out, n)
	}
	for n := range r.methods {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
