package codec

import (
	"bytes"
	"encoding/binary"
	"math"
	"reflect"
	"testing"
	"unsafe"
)

type Vec []float64
type myFloat float64
type myVec []myFloat

func TestRawRoundTripAllKinds(t *testing.T) {
	vals := []any{
		[]byte{0, 1, 255},
		[]int8{-128, 0, 127},
		[]uint16{0, 1, math.MaxUint16},
		[]int16{math.MinInt16, -1, math.MaxInt16},
		[]uint32{0, math.MaxUint32},
		[]int32{math.MinInt32, math.MaxInt32},
		[]uint64{0, math.MaxUint64},
		[]int64{math.MinInt64, math.MaxInt64},
		[]int{math.MinInt, -1, math.MaxInt},
		[]uint{0, math.MaxUint},
		[]float32{-1.5, float32(math.Inf(1)), math.SmallestNonzeroFloat32},
		[]float64{math.Pi, math.Inf(-1), -0.0, math.MaxFloat64},
	}
	for _, v := range vals {
		b, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(%T): %v", v, err)
		}
		if b[0] != FormatRaw {
			t.Fatalf("%T did not take the raw path: % X", v, b)
		}
		n, ok := RawSize(v)
		if !ok || n != len(b) {
			t.Errorf("RawSize(%T) = %d, %v; encoded %d bytes", v, n, ok, len(b))
		}
		dst := make([]byte, n)
		if err := MarshalTo(dst, v); err != nil || !bytes.Equal(dst, b) {
			t.Errorf("MarshalTo(%T) = % X, %v; want % X", v, dst, err, b)
		}
		for _, view := range []bool{false, true} {
			out := reflect.New(reflect.TypeOf(v))
			var err error
			if view {
				_, err = UnmarshalView(b, out.Interface())
			} else {
				err = Unmarshal(b, out.Interface())
			}
			if err != nil {
				t.Fatalf("Unmarshal(%T, view=%v): %v", v, view, err)
			}
			if got := out.Elem().Interface(); !reflect.DeepEqual(got, v) {
				t.Errorf("%T (view=%v): got %v, want %v", v, view, got, v)
			}
		}
	}
}

func TestRawIntInterchange(t *testing.T) {
	b, _ := Marshal([]int{1, -2, 3})
	var i64 []int64
	if err := Unmarshal(b, &i64); err != nil || !reflect.DeepEqual(i64, []int64{1, -2, 3}) {
		t.Errorf("[]int -> []int64: %v %v", i64, err)
	}
	b, _ = Marshal([]int64{4, -5})
	var is []int
	if err := Unmarshal(b, &is); err != nil || !reflect.DeepEqual(is, []int{4, -5}) {
		t.Errorf("[]int64 -> []int: %v %v", is, err)
	}
	b, _ = Marshal([]uint64{6})
	var us []uint
	if err := Unmarshal(b, &us); err != nil || !reflect.DeepEqual(us, []uint{6}) {
		t.Errorf("[]uint64 -> []uint: %v %v", us, err)
	}
}

func TestRawNamedSliceTypes(t *testing.T) {
	// Named types encode through CBOR, but decode from raw data too.
	b, _ := Marshal([]float64{1, 2, 3})
	var v Vec
	aliased, err := UnmarshalView(b, &v)
	if err != nil || !aliased || !reflect.DeepEqual(v, Vec{1, 2, 3}) {
		t.Errorf("Vec view: %v %v %v", v, aliased, err)
	}
	var mv myVec
	if err := Unmarshal(b, &mv); err != nil || !reflect.DeepEqual(mv, myVec{1, 2, 3}) {
		t.Errorf("myVec: %v %v", mv, err)
	}
	checkRT(t, Vec{4, 5})
	checkRT(t, myVec{6})
	decodeErr(t, "raw float64 into named []int64", b, new([]myInt))
}

type myInt int64

func TestRawEmpty(t *testing.T) {
	b, _ := Marshal([]int32{})
	if len(b) != RawHeaderSize || b[0] != FormatRaw {
		t.Fatalf("empty slice: % X", b)
	}
	var out []int32
	aliased, err := UnmarshalView(b, &out)
	if err != nil || out == nil || len(out) != 0 || aliased {
		t.Errorf("empty view: %#v %v %v", out, aliased, err)
	}
	if _, ok := RawSize([]int32(nil)); ok {
		t.Error("nil slice should not take the raw path")
	}
	if _, ok := RawSize(Vec{1}); ok {
		t.Error("named slice should not take the raw path")
	}
}

// alignedCopy returns a copy of b whose payload address (offset 8) is
// aligned to 8 bytes, plus or minus shift bytes.
func alignedCopy(b []byte, shift int) []byte {
	buf := make([]byte, len(b)+16)
	off := 0
	for uintptr(unsafe.Pointer(&buf[off+RawHeaderSize]))%8 != 0 {
		off++
	}
	off += shift
	copy(buf[off:], b)
	return buf[off : off+len(b)]
}

func TestUnmarshalViewAliases(t *testing.T) {
	data := alignedCopy(mustMarshal(t, []float64{1, 2, 3}), 0)
	var view []float64
	aliased, err := UnmarshalView(data, &view)
	if err != nil || !aliased {
		t.Fatalf("UnmarshalView: aliased=%v err=%v", aliased, err)
	}
	if unsafe.Pointer(&view[0]) != unsafe.Pointer(&data[RawHeaderSize]) {
		t.Fatal("view does not point into data")
	}
	if cap(view) != len(view) {
		t.Errorf("view cap %d != len %d", cap(view), len(view))
	}
	binary.LittleEndian.PutUint64(data[RawHeaderSize+8:], math.Float64bits(42))
	if view[1] != 42 {
		t.Errorf("view did not observe write to data: %v", view)
	}
	// Appending must not scribble on data.
	_ = append(view, 99)
	if len(data) != RawHeaderSize+24 {
		t.Fatal("data length changed")
	}

	// Every multi-byte kind aliases when aligned.
	for _, v := range []any{[]int8{1}, []uint16{1}, []int16{1}, []uint32{1}, []int32{1},
		[]uint64{1}, []int64{1}, []int{1}, []uint{1}, []float32{1}, []byte{1}} {
		d := alignedCopy(mustMarshal(t, v), 0)
		out := reflect.New(reflect.TypeOf(v))
		aliased, err := UnmarshalView(d, out.Interface())
		if err != nil || !aliased {
			t.Errorf("%T: aliased=%v err=%v", v, aliased, err)
			continue
		}
		if out.Elem().Index(0).Addr().UnsafePointer() != unsafe.Pointer(&d[RawHeaderSize]) {
			t.Errorf("%T: view does not point into data", v)
		}
	}
}

func TestUnmarshalViewMisaligned(t *testing.T) {
	want := []float64{1, 2, 3}
	for _, shift := range []int{1, 2, 4} {
		data := alignedCopy(mustMarshal(t, want), shift)
		var view []float64
		aliased, err := UnmarshalView(data, &view)
		if err != nil || aliased || !reflect.DeepEqual(view, want) {
			t.Fatalf("shift %d: %v aliased=%v err=%v", shift, view, aliased, err)
		}
		data[RawHeaderSize] ^= 0xFF
		if view[0] != 1 {
			t.Errorf("shift %d: misaligned view aliases data", shift)
		}
	}
	// 4-byte elements at a 4-aligned but not 8-aligned address still alias.
	data := alignedCopy(mustMarshal(t, []float32{1, 2}), 4)
	var f32 []float32
	if aliased, err := UnmarshalView(data, &f32); err != nil || !aliased {
		t.Errorf("4-aligned float32: aliased=%v err=%v", aliased, err)
	}
	// Bytes always alias.
	data = alignedCopy(mustMarshal(t, []byte("xyz")), 3)
	var bs []byte
	if aliased, err := UnmarshalView(data, &bs); err != nil || !aliased || string(bs) != "xyz" {
		t.Errorf("bytes: %q aliased=%v err=%v", bs, aliased, err)
	}
}

func TestUnmarshalViewNoAlias(t *testing.T) {
	data := alignedCopy(mustMarshal(t, []float64{1, 2}), 0)
	// Unmarshal copies.
	var c []float64
	if err := Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	data[RawHeaderSize] ^= 0xFF
	if c[0] != 1 {
		t.Error("Unmarshal aliases raw data")
	}
	// *any copies.
	var a any
	if aliased, err := UnmarshalView(data, &a); err != nil || aliased {
		t.Errorf("*any: aliased=%v err=%v", aliased, err)
	}
	// CBOR never aliases.
	var n int
	if aliased, err := UnmarshalView(mustMarshal(t, 5), &n); err != nil || aliased || n != 5 {
		t.Errorf("CBOR view: %d aliased=%v err=%v", n, aliased, err)
	}
}

func TestSwapBytes(t *testing.T) {
	b := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	for _, size := range []int{2, 4, 8} {
		got := append([]byte(nil), b...)
		swapBytes(got, size)
		for i := 0; i < len(b); i += size {
			for j := range size {
				if got[i+j] != b[i+size-1-j] {
					t.Fatalf("size %d: % X", size, got)
				}
			}
		}
	}
	got := append([]byte(nil), b...)
	swapBytes(got, 1)
	if !bytes.Equal(got, b) {
		t.Error("size 1 changed bytes")
	}
}

// TestForeignEndianPath exercises the byte-swapping branches by pretending
// the host is big-endian. The wire format must then hold swapped bytes, the
// round trip must still hold, and views must fall back to copies.
func TestForeignEndianPath(t *testing.T) {
	if !littleEndian {
		t.Skip("host is big-endian; the real path is covered elsewhere")
	}
	littleEndian = false
	defer func() { littleEndian = true }()

	xs := []uint32{0x01020304, 0x0A0B0C0D}
	b := mustMarshal(t, xs)
	if !bytes.Equal(b[RawHeaderSize:], []byte{1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D}) {
		t.Errorf("swapped wire bytes: % X", b[RawHeaderSize:])
	}
	var out []uint32
	aliased, err := UnmarshalView(alignedCopy(b, 0), &out)
	if err != nil || aliased || !reflect.DeepEqual(out, xs) {
		t.Errorf("foreign-endian view: %x aliased=%v err=%v", out, aliased, err)
	}
	var bs []byte
	if aliased, err := UnmarshalView(mustMarshal(t, []byte{1}), &bs); err != nil || !aliased {
		t.Errorf("bytes should still alias: aliased=%v err=%v", aliased, err)
	}
}
