package core

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

func fn(name string) *Func {
	return &Func{Name: name, Loc: "x.go:1", ArgTypes: []reflect.Type{reflect.TypeFor[int]()}, Result: reflect.TypeFor[int](),
		Invoke: func(context.Context, []Arg) (any, error) { return nil, nil }}
}

func TestRegistryDuplicatesPanic(t *testing.T) {
	r := NewRegistry()
	r.AddFunc(fn("pkg.f"))
	defer func() {
		p := recover()
		if p == nil || !strings.Contains(p.(string), "registered twice") {
			t.Fatalf("duplicate registration: recovered %v", p)
		}
	}()
	r.AddMethod(&Method{Name: "pkg.f", Loc: "y.go:2"})
}

func TestRegistryHashIgnoresLateRegistrations(t *testing.T) {
	a, b := NewRegistry(), NewRegistry()
	a.AddFunc(fn("pkg.f"))
	b.AddFunc(fn("pkg.f"))
	if a.Hash() != b.Hash() {
		t.Fatal("same registrations, different hashes")
	}
	b.Seal()
	b.AddFunc(fn("pkg.g"))
	if f, _ := b.Func("pkg.g"); !f.Late {
		t.Fatal("registration after Seal not marked late")
	}
	if a.Hash() != b.Hash() {
		t.Fatal("a late registration changed the hash")
	}
	c := NewRegistry()
	c.AddFunc(fn("pkg.f"))
	c.AddFunc(fn("pkg.g"))
	if c.Hash() == a.Hash() {
		t.Fatal("different init registrations, same hash")
	}
}
