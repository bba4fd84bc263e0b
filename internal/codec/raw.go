package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"unsafe"
)

// Raw element kinds (byte 1 of the raw header).
const (
	KindUint8   byte = 1
	KindInt8    byte = 2
	KindUint16  byte = 3
	KindInt16   byte = 4
	KindUint32  byte = 5
	KindInt32   byte = 6
	KindUint64  byte = 7 // also []uint
	KindInt64   byte = 8 // also []int
	KindFloat32 byte = 9
	KindFloat64 byte = 10
	maxKind     byte = 10
)

// kindSize is the element size in bytes, indexed by kind (0 = invalid).
var kindSize = [maxKind + 1]int{0, 1, 1, 2, 2, 4, 4, 8, 8, 4, 8}

var kindName = [maxKind + 1]string{"invalid", "[]uint8", "[]int8", "[]uint16", "[]int16",
	"[]uint32", "[]int32", "[]uint64", "[]int64", "[]float32", "[]float64"}

// littleEndian reports whether the host stores integers little-endian, in
// which case slices are copied to and from the wire format verbatim.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

type rawElem interface {
	~uint8 | ~int8 | ~uint16 | ~int16 | ~uint32 | ~int32 | ~uint64 | ~int64 | ~int | ~uint | ~float32 | ~float64
}

// bytesOf views the memory of s as bytes (host byte order).
func bytesOf[T rawElem](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
}

// rawLen returns the kind and element count of a raw-path value. Nil slices
// do not take the raw path (they encode as CBOR null, preserving nil-ness).
func rawLen(v any) (kind byte, n int, ok bool) {
	switch s := v.(type) {
	case []byte:
		return KindUint8, len(s), s != nil
	case []int8:
		return KindInt8, len(s), s != nil
	case []uint16:
		return KindUint16, len(s), s != nil
	case []int16:
		return KindInt16, len(s), s != nil
	case []uint32:
		return KindUint32, len(s), s != nil
	case []int32:
		return KindInt32, len(s), s != nil
	case []uint64:
		return KindUint64, len(s), s != nil
	case []int64:
		return KindInt64, len(s), s != nil
	case []uint:
		return KindUint64, len(s), s != nil
	case []int:
		return KindInt64, len(s), s != nil
	case []float32:
		return KindFloat32, len(s), s != nil
	case []float64:
		return KindFloat64, len(s), s != nil
	}
	return 0, 0, false
}

// rawBytes returns the kind and host-order element bytes of a raw-path value.
func rawBytes(v any) (kind byte, b []byte, ok bool) {
	switch s := v.(type) {
	case []byte:
		return KindUint8, s, s != nil
	case []int8:
		return KindInt8, bytesOf(s), s != nil
	case []uint16:
		return KindUint16, bytesOf(s), s != nil
	case []int16:
		return KindInt16, bytesOf(s), s != nil
	case []uint32:
		return KindUint32, bytesOf(s), s != nil
	case []int32:
		return KindInt32, bytesOf(s), s != nil
	case []uint64:
		return KindUint64, bytesOf(s), s != nil
	case []int64:
		return KindInt64, bytesOf(s), s != nil
	case []uint:
		if strconv.IntSize == 64 {
			return KindUint64, bytesOf(s), s != nil
		}
		w := make([]uint64, len(s))
		for i, x := range s {
			w[i] = uint64(x)
		}
		return KindUint64, bytesOf(w), s != nil
	case []int:
		if strconv.IntSize == 64 {
			return KindInt64, bytesOf(s), s != nil
		}
		w := make([]int64, len(s))
		for i, x := range s {
			w[i] = int64(x)
		}
		return KindInt64, bytesOf(w), s != nil
	case []float32:
		return KindFloat32, bytesOf(s), s != nil
	case []float64:
		return KindFloat64, bytesOf(s), s != nil
	}
	return 0, nil, false
}

// RawSize reports the encoded size of v if v takes the raw fast path
// (non-nil []byte and numeric slices), so a caller can allocate a buffer of
// the exact size (e.g. in shared memory) and call MarshalTo.
func RawSize(v any) (n int, ok bool) {
	kind, l, ok := rawLen(v)
	if !ok {
		return 0, false
	}
	return RawHeaderSize + l*kindSize[kind], true
}

// MarshalTo encodes a raw-path value into dst, which must be exactly
// RawSize(v) bytes long. The elements are copied once (memmove) on
// little-endian hosts.
func MarshalTo(dst []byte, v any) error {
	kind, b, ok := rawBytes(v)
	if !ok {
		return fmt.Errorf("%w: Go type %T does not take the raw path (want a non-nil []byte or numeric slice)", ErrEncode, v)
	}
	if len(dst) != RawHeaderSize+len(b) {
		return fmt.Errorf("%w: Go type %T: dst is %d bytes, want RawSize %d", ErrEncode, v, len(dst), RawHeaderSize+len(b))
	}
	dst[0] = FormatRaw
	dst[1] = kind
	clear(dst[2:RawHeaderSize])
	copy(dst[RawHeaderSize:], b)
	if !littleEndian {
		swapBytes(dst[RawHeaderSize:], kindSize[kind])
	}
	return nil
}

// largeRaw is the encoded size from which AppendMarshal avoids zeroing a
// freshly allocated destination (see appendRawLarge).
const largeRaw = 32 << 10

// appendRawLarge appends the raw encoding of v to dst, which lacks the
// capacity for it. make would zero the new buffer before the payload is
// copied over it; append to a slice that is out of capacity allocates
// without zeroing the part it is about to fill, saving a full pass over
// memory at the cost of one extra small allocation for the header.
func appendRawLarge(dst []byte, v any) []byte {
	kind, b, _ := rawBytes(v)
	start := len(dst)
	dst = append(dst[:start:start], FormatRaw, kind, 0, 0, 0, 0, 0, 0)
	dst = append(dst, b...)
	if !littleEndian {
		swapBytes(dst[start+RawHeaderSize:], kindSize[kind])
	}
	return dst
}

// swapBytes reverses the byte order of every size-byte group of b in
// place, converting between little-endian and big-endian elements.
func swapBytes(b []byte, size int) {
	switch size {
	case 2:
		for i := 0; i+2 <= len(b); i += 2 {
			binary.BigEndian.PutUint16(b[i:], binary.LittleEndian.Uint16(b[i:]))
		}
	case 4:
		for i := 0; i+4 <= len(b); i += 4 {
			binary.BigEndian.PutUint32(b[i:], binary.LittleEndian.Uint32(b[i:]))
		}
	case 8:
		for i := 0; i+8 <= len(b); i += 8 {
			binary.BigEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:]))
		}
	}
}

// decodeSlice turns a validated payload into a []T, aliasing the payload
// when view is set and the host and alignment allow it.
func decodeSlice[T rawElem](payload []byte, view bool) ([]T, bool) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	n := len(payload) / size
	if n == 0 {
		return []T{}, false
	}
	p := unsafe.Pointer(&payload[0])
	if view && (size == 1 || littleEndian) && uintptr(p)%uintptr(size) == 0 {
		return unsafe.Slice((*T)(p), n), true
	}
	// append to a nil slice allocates without zeroing memory that is about
	// to be overwritten. The allocator aligns such blocks to the element
	// size; that is checked rather than assumed.
	b := append([]byte(nil), payload...)
	if !littleEndian {
		swapBytes(b, size)
	}
	q := unsafe.Pointer(&b[0])
	if uintptr(q)%uintptr(size) == 0 {
		return unsafe.Slice((*T)(q), n), false
	}
	s := make([]T, n)
	copy(bytesOf(s), b)
	return s, false
}

func setSlice[T rawElem](dst *[]T, want, got byte, payload []byte, view bool, ptr any) (bool, error) {
	if want != got {
		return false, kindMismatch(got, ptr)
	}
	s, aliased := decodeSlice[T](payload, view)
	*dst = s
	return aliased, nil
}

func kindMismatch(got byte, ptr any) error {
	return fmt.Errorf("%w: raw %s value into %T: element kind mismatch", ErrDecode, kindName[got], ptr)
}

// unmarshalRaw decodes a FormatRaw encoding. ptr is known to be a non-nil
// pointer.
func unmarshalRaw(data []byte, ptr any, view bool) (bool, error) {
	if len(data) < RawHeaderSize {
		return false, fmt.Errorf("%w: truncated raw header: found %d bytes, expected at least %d", ErrDecode, len(data), RawHeaderSize)
	}
	k := data[1]
	if k == 0 || k > maxKind {
		return false, fmt.Errorf("%w: unknown raw element kind %d, expected 1..%d", ErrDecode, k, maxKind)
	}
	for _, r := range data[2:RawHeaderSize] {
		if r != 0 {
			return false, fmt.Errorf("%w: raw header reserved bytes [2..7] = % X, expected all zero", ErrDecode, data[2:RawHeaderSize])
		}
	}
	payload := data[RawHeaderSize:]
	if size := kindSize[k]; len(payload)%size != 0 {
		return false, fmt.Errorf("%w: raw %s payload is %d bytes, expected a multiple of the %d-byte element size", ErrDecode, kindName[k], len(payload), size)
	}
	switch p := ptr.(type) {
	case *[]byte:
		return setSlice(p, KindUint8, k, payload, view, ptr)
	case *[]int8:
		return setSlice(p, KindInt8, k, payload, view, ptr)
	case *[]uint16:
		return setSlice(p, KindUint16, k, payload, view, ptr)
	case *[]int16:
		return setSlice(p, KindInt16, k, payload, view, ptr)
	case *[]uint32:
		return setSlice(p, KindUint32, k, payload, view, ptr)
	case *[]int32:
		return setSlice(p, KindInt32, k, payload, view, ptr)
	case *[]uint64:
		return setSlice(p, KindUint64, k, payload, view, ptr)
	case *[]int64:
		return setSlice(p, KindInt64, k, payload, view, ptr)
	case *[]float32:
		return setSlice(p, KindFloat32, k, payload, view, ptr)
	case *[]float64:
		return setSlice(p, KindFloat64, k, payload, view, ptr)
	case *[]int:
		if strconv.IntSize == 64 {
			return setSlice(p, KindInt64, k, payload, view, ptr)
		}
		return false, setNarrowInts(p, k, payload, ptr)
	case *[]uint:
		if strconv.IntSize == 64 {
			return setSlice(p, KindUint64, k, payload, view, ptr)
		}
		return false, setNarrowInts(p, k, payload, ptr)
	case *any:
		*p = naturalSlice(k, payload)
		return false, nil
	}
	return unmarshalRawReflect(k, payload, ptr, view)
}

// naturalSlice copies a payload into a slice of the kind's natural Go type.
func naturalSlice(k byte, payload []byte) any {
	switch k {
	case KindUint8:
		s, _ := decodeSlice[uint8](payload, false)
		return s
	case KindInt8:
		s, _ := decodeSlice[int8](payload, false)
		return s
	case KindUint16:
		s, _ := decodeSlice[uint16](payload, false)
		return s
	case KindInt16:
		s, _ := decodeSlice[int16](payload, false)
		return s
	case KindUint32:
		s, _ := decodeSlice[uint32](payload, false)
		return s
	case KindInt32:
		s, _ := decodeSlice[int32](payload, false)
		return s
	case KindUint64:
		s, _ := decodeSlice[uint64](payload, false)
		return s
	case KindInt64:
		s, _ := decodeSlice[int64](payload, false)
		return s
	case KindFloat32:
		s, _ := decodeSlice[float32](payload, false)
		return s
	default: // KindFloat64; k was validated by the caller
		s, _ := decodeSlice[float64](payload, false)
		return s
	}
}

// unmarshalRawReflect handles pointers to named slice types whose element
// kind matches (e.g. type Vec []float64). The slice header is written
// through an unsafe cast, which is sound because all slice headers share
// one layout and the element memory layouts are identical.
func unmarshalRawReflect(k byte, payload []byte, ptr any, view bool) (bool, error) {
	pv := reflect.ValueOf(ptr)
	rv := pv.Elem()
	if rv.Kind() != reflect.Slice {
		return false, fmt.Errorf("%w: raw %s value into %T: expected a pointer to a slice", ErrDecode, kindName[k], ptr)
	}
	up := pv.UnsafePointer()
	switch rv.Type().Elem().Kind() {
	case reflect.Uint8:
		return setSlice((*[]uint8)(up), KindUint8, k, payload, view, ptr)
	case reflect.Int8:
		return setSlice((*[]int8)(up), KindInt8, k, payload, view, ptr)
	case reflect.Uint16:
		return setSlice((*[]uint16)(up), KindUint16, k, payload, view, ptr)
	case reflect.Int16:
		return setSlice((*[]int16)(up), KindInt16, k, payload, view, ptr)
	case reflect.Uint32:
		return setSlice((*[]uint32)(up), KindUint32, k, payload, view, ptr)
	case reflect.Int32:
		return setSlice((*[]int32)(up), KindInt32, k, payload, view, ptr)
	case reflect.Uint64:
		return setSlice((*[]uint64)(up), KindUint64, k, payload, view, ptr)
	case reflect.Int64:
		return setSlice((*[]int64)(up), KindInt64, k, payload, view, ptr)
	case reflect.Float32:
		return setSlice((*[]float32)(up), KindFloat32, k, payload, view, ptr)
	case reflect.Float64:
		return setSlice((*[]float64)(up), KindFloat64, k, payload, view, ptr)
	case reflect.Int:
		if strconv.IntSize == 64 {
			return setSlice((*[]int64)(up), KindInt64, k, payload, view, ptr)
		}
	case reflect.Uint:
		if strconv.IntSize == 64 {
			return setSlice((*[]uint64)(up), KindUint64, k, payload, view, ptr)
		}
	}
	return false, kindMismatch(k, ptr)
}

// setNarrowInts decodes 64-bit raw integers into []int or []uint on hosts
// where those are 32 bits wide, rejecting values that do not fit.
func setNarrowInts(ptr any, k byte, payload []byte, orig any) error {
	switch p := ptr.(type) {
	case *[]int:
		if k != KindInt64 {
			return kindMismatch(k, orig)
		}
		s := make([]int, len(payload)/8)
		for i := range s {
			x := int64(binary.LittleEndian.Uint64(payload[8*i:]))
			if x < math.MinInt32 || x > math.MaxInt32 {
				return fmt.Errorf("%w: raw []int64 element %d = %d overflows int", ErrDecode, i, x)
			}
			s[i] = int(x)
		}
		*p = s
	case *[]uint:
		if k != KindUint64 {
			return kindMismatch(k, orig)
		}
		s := make([]uint, len(payload)/8)
		for i := range s {
			x := binary.LittleEndian.Uint64(payload[8*i:])
			if x > math.MaxUint32 {
				return fmt.Errorf("%w: raw []uint64 element %d = %d overflows uint", ErrDecode, i, x)
			}
			s[i] = uint(x)
		}
		*p = s
	}
	return nil
}

// RawParts returns the raw encoding of v as a header and the payload, which
// aliases v's memory (no copy), so a writer can send both straight to a
// file. ok is false for values off the raw path, and on big-endian hosts
// (where the payload needs byte swapping).
func RawParts(v any) (header [RawHeaderSize]byte, payload []byte, ok bool) {
	kind, b, ok := rawBytes(v)
	if !ok || !littleEndian {
		return header, nil, false
	}
	header[0] = FormatRaw
	header[1] = kind
	return header, b, true
}
