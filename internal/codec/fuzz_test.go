package codec

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
)

type fuzzStruct struct {
	A int
	B string
	C []float64
	D map[string]int
	E *fuzzStruct
	F []byte
}

func FuzzUnmarshal(f *testing.F) {
	seeds := []any{
		nil, 1, -1, int64(math.MaxInt64), uint64(math.MaxUint64), 2.5, "s", true,
		[]string{"a"}, map[string]int{"a": 1}, map[int]string{1: "a"},
		fuzzStruct{A: 1, B: "b", C: []float64{1}, D: map[string]int{"x": 1}, E: &fuzzStruct{}, F: []byte{1}},
		[]byte{1, 2, 3}, []float64{1, 2}, []int{1}, []int8{1}, []uint16{1}, []float32{1},
	}
	for _, s := range seeds {
		b, err := Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{FormatRaw})
	f.Add([]byte{FormatRaw, KindFloat64, 0, 0, 0, 0, 0, 0, 1, 2, 3})
	f.Add([]byte{FormatCBOR, 0x9F, 0x01, 0xFF})
	f.Add([]byte{FormatCBOR, 0xA2, 0x61, 'a', 0x01, 0x61, 'a', 0x02})
	f.Add([]byte{FormatCBOR, 0x9B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})

	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		targets := []func() any{
			func() any { return new(any) },
			func() any { return new(int) },
			func() any { return new([]float64) },
			func() any { return new(map[string]int) },
			func() any { return new(fuzzStruct) },
			func() any { return new([]byte) },
			func() any { return new(string) },
			func() any { return new([]int) },
		}
		for _, mk := range targets {
			ptr := mk()
			if err := Unmarshal(data, ptr); err != nil && !errors.Is(err, ErrDecode) {
				t.Fatalf("Unmarshal into %T: error does not wrap ErrDecode: %v", ptr, err)
			}
			ptr = mk()
			if _, err := UnmarshalView(data, ptr); err != nil && !errors.Is(err, ErrDecode) {
				t.Fatalf("UnmarshalView into %T: error does not wrap ErrDecode: %v", ptr, err)
			}
		}
		if !bytes.Equal(data, orig) {
			t.Fatal("decoding modified its input")
		}
	})
}

// FuzzRoundTrip builds a raw slice of the given kind from arbitrary bytes and
// checks Marshal / MarshalTo / Unmarshal / UnmarshalView agree bit for bit.
func FuzzRoundTrip(f *testing.F) {
	f.Add(KindUint8, []byte{1, 2, 3})
	f.Add(KindFloat64, []byte{0, 0, 0, 0, 0, 0, 0xF8, 0x7F, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(KindInt16, []byte{0xFF, 0xFF})
	f.Add(KindFloat32, []byte{0, 0, 0xC0, 0x7F})
	f.Add(byte(11), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(KindInt64, []byte{})

	f.Fuzz(func(t *testing.T, kind byte, raw []byte) {
		v := sliceFromBytes(kind%(maxKind+2), raw) // kind 11 -> []int, 0 -> []uint
		b, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(%T): %v", v, err)
		}
		n, ok := RawSize(v)
		if !ok || n != len(b) || b[0] != FormatRaw {
			t.Fatalf("RawSize(%T) = %d %v, encoded %d bytes", v, n, ok, len(b))
		}
		dst := make([]byte, n)
		if err := MarshalTo(dst, v); err != nil || !bytes.Equal(dst, b) {
			t.Fatalf("MarshalTo mismatch: %v", err)
		}
		for _, view := range []bool{false, true} {
			out := reflect.New(reflect.TypeOf(v))
			if view {
				_, err = UnmarshalView(b, out.Interface())
			} else {
				err = Unmarshal(b, out.Interface())
			}
			if err != nil {
				t.Fatalf("Unmarshal(%T, view=%v): %v", v, view, err)
			}
			_, got, _ := rawBytes(out.Elem().Interface())
			_, want, _ := rawBytes(v)
			if !bytes.Equal(got, want) {
				t.Fatalf("%T (view=%v): bits differ", v, view)
			}
		}
		var a any
		if err := Unmarshal(b, &a); err != nil {
			t.Fatalf("into *any: %v", err)
		}
		_, got, _ := rawBytes(a)
		_, want, _ := rawBytes(v)
		if !bytes.Equal(got, want) {
			t.Fatalf("%T into *any: bits differ", v)
		}
	})
}

// sliceFromBytes reinterprets raw (truncated to whole elements) as a
// non-nil slice of the given kind.
func sliceFromBytes(kind byte, raw []byte) any {
	switch kind {
	case KindUint8:
		return append([]byte{}, raw...)
	case KindInt8:
		return fromBytes[int8](raw)
	case KindUint16:
		return fromBytes[uint16](raw)
	case KindInt16:
		return fromBytes[int16](raw)
	case KindUint32:
		return fromBytes[uint32](raw)
	case KindInt32:
		return fromBytes[int32](raw)
	case KindUint64:
		return fromBytes[uint64](raw)
	case KindInt64:
		return fromBytes[int64](raw)
	case KindFloat32:
		return fromBytes[float32](raw)
	case KindFloat64:
		return fromBytes[float64](raw)
	case maxKind + 1:
		return fromBytes[int](raw)
	default:
		return fromBytes[uint](raw)
	}
}

func fromBytes[T rawElem](raw []byte) []T {
	var zero T
	size := int(reflect.TypeOf(zero).Size())
	s := make([]T, len(raw)/size)
	copy(bytesOf(s), raw)
	return s
}
