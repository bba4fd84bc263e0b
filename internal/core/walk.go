package core

import (
	"reflect"
	"sync"

	"github.com/goray/ray/internal/proto"
)

// RefCarrier is implemented by ray.Ref[T]: values that are object refs.
// The walker finds them nested inside values being encoded, so the owner
// can count the references a value carries.
type RefCarrier interface {
	RefHandle() *Handle
}

var refCarrierType = reflect.TypeFor[RefCarrier]()

// mayHoldRefs caches, per type, whether a value of it can contain a ref.
var mayHoldRefs sync.Map // reflect.Type -> bool

func typeMayHoldRefs(t reflect.Type) bool {
	if v, ok := mayHoldRefs.Load(t); ok {
		return v.(bool)
	}
	// Assume false while computing to cut cycles (a recursive type holds
	// refs only through some other field, which is visited).
	mayHoldRefs.Store(t, false)
	r := computeMayHold(t)
	mayHoldRefs.Store(t, r)
	return r
}

func computeMayHold(t reflect.Type) bool {
	if t.Implements(refCarrierType) {
		return true
	}
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return typeMayHoldRefs(t.Elem())
	case reflect.Map:
		return typeMayHoldRefs(t.Key()) || typeMayHoldRefs(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && typeMayHoldRefs(f.Type) {
				return true
			}
		}
	}
	return false
}

// collectRefs returns the refs nested anywhere in v (v itself included).
func collectRefs(v any) []proto.ObjRef {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	if !typeMayHoldRefs(rv.Type()) {
		return nil
	}
	var out []proto.ObjRef
	walkRefs(rv, &out, 0)
	return out
}

func walkRefs(v reflect.Value, out *[]proto.ObjRef, depth int) {
	if depth > 64 || !v.IsValid() {
		return
	}
	t := v.Type()
	if !typeMayHoldRefs(t) {
		return
	}
	if t.Implements(refCarrierType) {
		if (t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface) && v.IsNil() {
			return
		}
		if h := v.Interface().(RefCarrier).RefHandle(); h != nil {
			*out = append(*out, h.Refs()...)
		}
		return
	}
	switch t.Kind() {
	case reflect.Interface, reflect.Pointer:
		if !v.IsNil() {
			walkRefs(v.Elem(), out, depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkRefs(v.Index(i), out, depth+1)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			walkRefs(it.Key(), out, depth+1)
			walkRefs(it.Value(), out, depth+1)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if t.Field(i).IsExported() {
				walkRefs(v.Field(i), out, depth+1)
			}
		}
	}
}
