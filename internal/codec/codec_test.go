package codec

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

type inner struct {
	A int
	B string
}

type outer struct {
	ID      int64
	Name    string
	Score   float64
	Ok      bool
	Tags    []string
	Blob    []byte
	In      inner
	Ptr     *inner
	NilPtr  *inner
	M       map[string]int
	Nums    []float64
	Arr     [3]uint16
	When    time.Time
	private int // unexported: not encoded
}

type tagged struct {
	X int    `cbor:"x"`
	Y string `cbor:"y,omitempty"`
}

type smallStruct struct {
	ID    int
	Name  string
	Score float64
}

// roundTrip marshals v, unmarshals into a fresh T and returns it.
func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%T): %v", v, err)
	}
	var out T
	if err := Unmarshal(b, &out); err != nil {
		t.Fatalf("Unmarshal(%T): %v (data % X)", v, err, b)
	}
	return out
}

func checkRT[T any](t *testing.T, v T) {
	t.Helper()
	if got := roundTrip(t, v); !reflect.DeepEqual(got, v) {
		t.Errorf("round trip %T: got %#v, want %#v", v, got, v)
	}
}

func TestRoundTripScalars(t *testing.T) {
	checkRT(t, 0)
	checkRT(t, 42)
	checkRT(t, -7)
	checkRT(t, int64(math.MaxInt64))
	checkRT(t, int64(math.MinInt64))
	checkRT(t, int8(-128))
	checkRT(t, int16(-300))
	checkRT(t, int32(math.MinInt32))
	checkRT(t, int64(1)<<40)
	checkRT(t, uint(7))
	checkRT(t, uint8(255))
	checkRT(t, uint16(65535))
	checkRT(t, uint32(math.MaxUint32))
	checkRT(t, uint64(math.MaxUint64))
	checkRT(t, float32(1.5))
	checkRT(t, math.Pi)
	checkRT(t, math.Inf(-1))
	checkRT(t, float32(math.Inf(1)))
	checkRT(t, math.SmallestNonzeroFloat64)
	checkRT(t, true)
	checkRT(t, false)
	checkRT(t, "")
	checkRT(t, "héllo, 世界")
	checkRT(t, "\xff\xfe invalid utf-8")
	checkRT(t, strings.Repeat("x", 100000))

	nan := math.Float64frombits(0x7ff8_0000_dead_beef)
	if got := roundTrip(t, nan); math.Float64bits(got) != math.Float64bits(nan) {
		t.Errorf("NaN payload: got %x, want %x", math.Float64bits(got), math.Float64bits(nan))
	}
}

func TestRoundTripComposite(t *testing.T) {
	now := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 5*3600+1800))
	o := outer{
		ID: 1, Name: "n", Score: 2.5, Ok: true, Tags: []string{"a", "b"},
		Blob: []byte{0, 1, 2}, In: inner{3, "c"}, Ptr: &inner{4, "d"},
		M: map[string]int{"x": 1, "y": 2}, Nums: []float64{1, 2}, Arr: [3]uint16{1, 2, 3},
		When: now,
	}
	got := roundTrip(t, o)
	if !got.When.Equal(now) {
		t.Errorf("time: got %v, want %v", got.When, now)
	}
	if _, off := got.When.Zone(); off != 5*3600+1800 {
		t.Errorf("time zone offset lost: %d", off)
	}
	got.When, o.When = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, o) {
		t.Errorf("struct: got %#v, want %#v", got, o)
	}

	checkRT(t, tagged{X: 1})
	checkRT(t, []inner{{1, "a"}, {2, "b"}})
	checkRT(t, map[int]string{1: "a", -2: "b"})
	checkRT(t, map[string][]float64{"a": {1, 2}, "b": nil})
	checkRT(t, [][]int{{1}, {2, 3}})
	checkRT(t, []string{})
	checkRT(t, []any{int64(1), "two", 3.0})
	checkRT(t, &inner{A: 1})
	checkRT(t, [4]byte{1, 2, 3, 4})
	checkRT(t, map[string]any{"k": "v", "n": int64(-1), "l": []any{true}})
	checkRT(t, new(big.Int).Lsh(big.NewInt(1), 100))

	// Nil slices and maps stay nil; empty ones stay empty.
	if got := roundTrip(t, []float64(nil)); got != nil {
		t.Errorf("nil []float64: got %#v", got)
	}
	if got := roundTrip(t, []byte(nil)); got != nil {
		t.Errorf("nil []byte: got %#v", got)
	}
	if got := roundTrip(t, map[string]int(nil)); got != nil {
		t.Errorf("nil map: got %#v", got)
	}
	if got := roundTrip(t, []float64{}); got == nil || len(got) != 0 {
		t.Errorf("empty []float64: got %#v", got)
	}
	if got := roundTrip(t, map[string]int{}); got == nil || len(got) != 0 {
		t.Errorf("empty map: got %#v", got)
	}
}

func TestDecodeIntoAny(t *testing.T) {
	cases := []struct {
		in   any
		want any
	}{
		{nil, nil},
		{7, int64(7)},
		{-7, int64(-7)},
		{uint8(200), int64(200)},
		{2.5, 2.5},
		{"s", "s"},
		{true, true},
		{[]string{"a"}, []any{"a"}},
		{map[string]int{"a": 1}, map[string]any{"a": int64(1)}},
		{inner{A: 1, B: "b"}, map[string]any{"A": int64(1), "B": "b"}},
		{map[int]string{1: "a"}, map[any]any{int64(1): "a"}}, // non-text keys fall back
		{[]float64{1, 2}, []float64{1, 2}},                   // raw
		{[]int{1, -2}, []int64{1, -2}},                       // raw, natural type
		{[]uint{1}, []uint64{1}},
		{[]byte("hi"), []byte("hi")},
		{[]int8{-1}, []int8{-1}},
		{[]uint16{1}, []uint16{1}},
		{[]int16{-1}, []int16{-1}},
		{[]uint32{1}, []uint32{1}},
		{[]int32{-1}, []int32{-1}},
		{[]float32{1.5}, []float32{1.5}},
		{uint64(math.MaxUint64), *new(big.Int).SetUint64(math.MaxUint64)},
	}
	for _, c := range cases {
		b, err := Marshal(c.in)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", c.in, err)
		}
		var got any
		if err := Unmarshal(b, &got); err != nil {
			t.Fatalf("Unmarshal(%#v) into *any: %v", c.in, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%#v into *any: got %#v (%T), want %#v (%T)", c.in, got, got, c.want, c.want)
		}
	}

	now := time.Now()
	b, _ := Marshal(now)
	var got any
	if err := Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if tm, ok := got.(time.Time); !ok || !tm.Equal(now) {
		t.Errorf("time into *any: got %#v", got)
	}
}

func TestHeaderBytes(t *testing.T) {
	b, _ := Marshal(1)
	if !bytes.Equal(b, []byte{FormatCBOR, 0x01}) {
		t.Errorf("Marshal(1) = % X", b)
	}
	b, _ = Marshal([]uint16{1, 0x0203})
	want := []byte{FormatRaw, KindUint16, 0, 0, 0, 0, 0, 0, 1, 0, 3, 2}
	if !bytes.Equal(b, want) {
		t.Errorf("Marshal([]uint16) = % X, want % X", b, want)
	}
	b, _ = Marshal([]int{-1})
	if b[1] != KindInt64 || len(b) != 16 {
		t.Errorf("[]int encodes as % X", b)
	}
	b, _ = Marshal([]uint{1})
	if b[1] != KindUint64 || len(b) != 16 {
		t.Errorf("[]uint encodes as % X", b)
	}
}

func TestStructOptions(t *testing.T) {
	// Unknown fields are ignored; missing fields keep zero values.
	b, _ := Marshal(map[string]any{"A": 1, "Zzz": "ignored", "B": "b"})
	var in inner
	if err := Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	if in != (inner{A: 1, B: "b"}) {
		t.Errorf("got %#v", in)
	}
	// Unexported fields are not encoded.
	b, _ = Marshal(outer{private: 5})
	var o outer
	if err := Unmarshal(b, &o); err != nil || o.private != 0 {
		t.Errorf("private field: %v %d", err, o.private)
	}
}

func TestUnmarshalDoesNotAliasCBOR(t *testing.T) {
	type withBytes struct{ B []byte }
	data, _ := Marshal(withBytes{B: []byte("abcdef")})
	var w withBytes
	if err := Unmarshal(data, &w); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'z'
	}
	if string(w.B) != "abcdef" {
		t.Errorf("decoded value aliases input: %q", w.B)
	}
}

func TestAppendMarshal(t *testing.T) {
	prefix := []byte("prefix")
	for _, v := range []any{42, []float64{1, 2}, inner{1, "x"}} {
		dst := append([]byte(nil), prefix...)
		out, err := AppendMarshal(dst, v)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := Marshal(v)
		if !bytes.HasPrefix(out, prefix) || !bytes.Equal(out[len(prefix):], want) {
			t.Errorf("AppendMarshal(%T) = % X", v, out)
		}
	}
	// With enough capacity, no allocation and the same backing array.
	buf := make([]byte, 0, 256)
	out, _ := AppendMarshal(buf, []float64{1, 2, 3})
	if &out[0] != &buf[:1][0] {
		t.Error("AppendMarshal reallocated despite sufficient capacity")
	}
	// On error, dst keeps its length.
	out, err := AppendMarshal(prefix, make(chan int))
	if err == nil || !bytes.Equal(out, prefix) {
		t.Errorf("AppendMarshal error case: %q, %v", out, err)
	}
}

func TestEncodeErrors(t *testing.T) {
	type withChan struct{ C chan int }
	cases := []struct {
		v    any
		name string
	}{
		{make(chan int), "chan int"},
		{func() {}, "func()"},
		{withChan{C: make(chan int)}, "codec.withChan"},
		{map[string]any{"f": func() {}}, "map[string]interface {}"},
		{[]any{make(chan bool)}, "[]interface {}"},
		{complex(1, 2), "complex128"},
	}
	for _, c := range cases {
		_, err := Marshal(c.v)
		if !errors.Is(err, ErrEncode) {
			t.Errorf("Marshal(%T): err = %v, want ErrEncode", c.v, err)
			continue
		}
		if !strings.Contains(err.Error(), c.name) {
			t.Errorf("Marshal(%T): message %q does not name the type", c.v, err)
		}
	}
}

func TestMarshalToErrors(t *testing.T) {
	if err := MarshalTo(make([]byte, 16), 5); !errors.Is(err, ErrEncode) || !strings.Contains(err.Error(), "int") {
		t.Errorf("MarshalTo(int): %v", err)
	}
	if err := MarshalTo(make([]byte, 8), []float64(nil)); !errors.Is(err, ErrEncode) {
		t.Errorf("MarshalTo(nil slice): %v", err)
	}
	for _, n := range []int{0, 8, 15, 17} {
		if err := MarshalTo(make([]byte, n), []float64{1}); !errors.Is(err, ErrEncode) {
			t.Errorf("MarshalTo(%d-byte dst): %v", n, err)
		}
	}
}

// decodeErr asserts that decoding data into ptr fails with ErrDecode and
// does not panic, through both Unmarshal and UnmarshalView.
func decodeErr(t *testing.T, what string, data []byte, ptr any) {
	t.Helper()
	for _, view := range []bool{false, true} {
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s (view=%v): panic: %v", what, view, r)
				}
			}()
			if view {
				_, err = UnmarshalView(data, ptr)
			} else {
				err = Unmarshal(data, ptr)
			}
		}()
		if !errors.Is(err, ErrDecode) {
			t.Errorf("%s (view=%v): err = %v, want ErrDecode", what, view, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	var (
		i   int
		s   string
		f64 []float64
		i64 []int64
		a   any
		st  inner
		arr [2]float64
		m   map[string]int
	)
	cborStruct, _ := Marshal(outer{Name: "abcdef", Tags: []string{"x", "y"}})
	raw, _ := Marshal([]float64{1, 2, 3})
	rawInts, _ := Marshal([]int64{1, 2})

	decodeErr(t, "nil input", nil, &i)
	decodeErr(t, "empty input", []byte{}, &a)
	decodeErr(t, "header only", []byte{FormatCBOR}, &i)
	decodeErr(t, "unknown header 0x00", []byte{0x00, 0x01}, &i)
	decodeErr(t, "unknown header 0xFF", []byte{0xFF}, &a)
	for n := 2; n < len(cborStruct); n += 3 {
		decodeErr(t, "truncated CBOR", cborStruct[:n], &a)
		var o outer
		decodeErr(t, "truncated CBOR into struct", cborStruct[:n], &o)
	}
	decodeErr(t, "trailing data", append(append([]byte{}, cborStruct...), 0x00), &a)
	decodeErr(t, "CBOR type mismatch", mustMarshal(t, "str"), &i)
	decodeErr(t, "CBOR type mismatch 2", mustMarshal(t, 5), &s)
	decodeErr(t, "CBOR into array too short", mustMarshal(t, []string{"a", "b", "c"}), &st)

	for n := 1; n < RawHeaderSize; n++ {
		decodeErr(t, "truncated raw header", raw[:n], &f64)
	}
	decodeErr(t, "raw length not multiple", raw[:len(raw)-3], &f64)
	decodeErr(t, "raw length not multiple into any", raw[:len(raw)-1], &a)
	bad := append([]byte{}, raw...)
	bad[1] = 0
	decodeErr(t, "raw kind 0", bad, &a)
	bad[1] = maxKind + 1
	decodeErr(t, "raw kind too big", bad, &a)
	bad = append([]byte{}, raw...)
	bad[5] = 1
	decodeErr(t, "raw reserved byte", bad, &f64)
	decodeErr(t, "kind mismatch float64->int64", raw, &i64)
	decodeErr(t, "kind mismatch int64->float64", rawInts, &f64)
	decodeErr(t, "kind mismatch float64->[]byte", raw, new([]byte))
	decodeErr(t, "kind mismatch float64->[]uint64", raw, new([]uint64))
	decodeErr(t, "raw into int", raw, &i)
	decodeErr(t, "raw into struct", raw, &st)
	decodeErr(t, "raw into array", raw, &arr)
	decodeErr(t, "raw into map", raw, &m)
	decodeErr(t, "raw into []any", raw, new([]any))
	decodeErr(t, "raw into []string", raw, new([]string))

	decodeErr(t, "nil ptr", raw, nil)
	decodeErr(t, "typed nil *int", cborStruct, (*int)(nil))
	decodeErr(t, "typed nil *any", cborStruct, (*any)(nil))
	decodeErr(t, "typed nil *[]float64", raw, (*[]float64)(nil))
	decodeErr(t, "typed nil *[]byte", raw, (*[]byte)(nil))
	decodeErr(t, "typed nil *struct", cborStruct, (*outer)(nil))
	decodeErr(t, "non-pointer int", cborStruct, 5)
	decodeErr(t, "non-pointer slice", raw, []float64{})
	decodeErr(t, "non-pointer struct", cborStruct, outer{})

	// Messages say what was expected and what was found.
	err := Unmarshal(raw, &i64)
	if !strings.Contains(err.Error(), "[]float64") || !strings.Contains(err.Error(), "*[]int64") {
		t.Errorf("kind mismatch message: %q", err)
	}
	err = Unmarshal([]byte{0x42}, &i)
	if !strings.Contains(err.Error(), "0x42") {
		t.Errorf("header message: %q", err)
	}
	// The underlying cbor error stays reachable.
	err = Unmarshal(mustMarshal(t, "str"), &i)
	var ute *cbor.UnmarshalTypeError
	if !errors.As(err, &ute) {
		t.Errorf("cbor error not wrapped: %v", err)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeLimits(t *testing.T) {
	var a any
	// Duplicate map keys: {"a":1,"a":2}.
	dup := []byte{FormatCBOR, 0xA2, 0x61, 'a', 0x01, 0x61, 'a', 0x02}
	decodeErr(t, "dup key into any", dup, &a)
	decodeErr(t, "dup key into map", dup, new(map[string]int))
	decodeErr(t, "dup key into struct", []byte{FormatCBOR, 0xA2, 0x61, 'A', 0x01, 0x61, 'A', 0x02}, new(inner))

	// Nesting: 64 levels are fine, 65 are not.
	nest := func(n int) []byte {
		b := []byte{FormatCBOR}
		for range n - 1 {
			b = append(b, 0x81) // array of 1
		}
		return append(b, 0x80) // innermost empty array
	}
	if err := Unmarshal(nest(MaxNestedLevels), &a); err != nil {
		t.Errorf("%d levels: %v", MaxNestedLevels, err)
	}
	decodeErr(t, "too deep", nest(MaxNestedLevels+1), &a)

	// Oversized length claims fail without allocating them.
	decodeErr(t, "huge array", []byte{FormatCBOR, 0x9A, 0x10, 0, 0, 0}, &a) // 2^28 elements
	decodeErr(t, "huge map", []byte{FormatCBOR, 0xBA, 0x02, 0, 0, 0}, &a)   // 2^25 pairs
	decodeErr(t, "huge bytes", []byte{FormatCBOR, 0x5B, 0xFF, 0, 0, 0, 0, 0, 0, 0}, &a)

	// Indefinite-length items are accepted: [_ 1, 2].
	var xs []int
	if err := Unmarshal([]byte{FormatCBOR, 0x9F, 0x01, 0x02, 0xFF}, &xs); err != nil || !reflect.DeepEqual(xs, []int{1, 2}) {
		t.Errorf("indefinite array: %v %v", xs, err)
	}
}

func TestRefTag(t *testing.T) {
	if RefTag <= 65535 {
		t.Fatalf("RefTag %d should be > 65535", RefTag)
	}
	b, err := EncMode().Marshal(cbor.Tag{Number: RefTag, Content: []byte{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0xDA, 0x00, 0x52, 0x41, 0x59}) {
		t.Errorf("tag head % X", b)
	}
	var a any
	if err := DecMode().Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	if tg, ok := a.(cbor.Tag); !ok || tg.Number != RefTag {
		t.Errorf("decoded %#v", a)
	}
}

func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	var vi any = 123456789
	var vs any = smallStruct{ID: 1, Name: "name", Score: 2.5}
	xs := make([]float64, 1024)
	var vx any = xs
	dataInt, _ := Marshal(vi)
	dataX, _ := Marshal(vx)
	check := func(name string, max float64, f func()) {
		if n := testing.AllocsPerRun(100, f); n > max {
			t.Errorf("%s: %v allocs, want <= %v", name, n, max)
		}
	}
	check("Marshal(int)", 1, func() { _, _ = Marshal(vi) })
	check("Marshal(struct)", 2, func() { _, _ = Marshal(vs) })
	check("Marshal([]float64)", 1, func() { _, _ = Marshal(vx) })
	buf := make([]byte, 0, 64)
	check("AppendMarshal(int)", 0, func() { _, _ = AppendMarshal(buf, vi) })
	var n int
	check("Unmarshal(int)", 0, func() { _ = Unmarshal(dataInt, &n) })
	var view []float64
	check("UnmarshalView([]float64)", 0, func() { _, _ = UnmarshalView(dataX, &view) })
	check("Unmarshal([]float64)", 1, func() { _ = Unmarshal(dataX, &view) })
}
