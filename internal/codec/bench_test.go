package codec

import "testing"

var sinkBytes []byte

func BenchmarkMarshalInt(b *testing.B) {
	var v any = 123456789
	b.ReportAllocs()
	for b.Loop() {
		sinkBytes, _ = Marshal(v)
	}
}

func BenchmarkUnmarshalInt(b *testing.B) {
	data, _ := Marshal(123456789)
	var n int
	b.ReportAllocs()
	for b.Loop() {
		if err := Unmarshal(data, &n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalStruct(b *testing.B) {
	var v any = smallStruct{ID: 42, Name: "task-result", Score: 0.75}
	b.ReportAllocs()
	for b.Loop() {
		sinkBytes, _ = Marshal(v)
	}
}

func BenchmarkUnmarshalStruct(b *testing.B) {
	data, _ := Marshal(smallStruct{ID: 42, Name: "task-result", Score: 0.75})
	var s smallStruct
	b.ReportAllocs()
	for b.Loop() {
		if err := Unmarshal(data, &s); err != nil {
			b.Fatal(err)
		}
	}
}

var floats1MiB = make([]float64, (1<<20)/8)

func BenchmarkMarshalFloat64s1MiB(b *testing.B) {
	var v any = floats1MiB
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		sinkBytes, _ = Marshal(v)
	}
}

func BenchmarkMarshalToFloat64s1MiB(b *testing.B) {
	var v any = floats1MiB
	n, _ := RawSize(v)
	dst := make([]byte, n)
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if err := MarshalTo(dst, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalFloat64s1MiB(b *testing.B) {
	data, _ := Marshal(floats1MiB)
	var out []float64
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if err := Unmarshal(data, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalViewFloat64s1MiB(b *testing.B) {
	data, _ := Marshal(floats1MiB)
	var out []float64
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if aliased, err := UnmarshalView(data, &out); err != nil || !aliased {
			b.Fatal(aliased, err)
		}
	}
}
