package codec

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Format header. Every encoding starts with one format byte.
const (
	// FormatCBOR is followed directly by exactly one CBOR data item.
	FormatCBOR byte = 0xC0
	// FormatRaw starts an 8-byte header: [0]=FormatRaw, [1]=element kind,
	// [2..7]=0 (reserved). The elements follow little-endian; the payload
	// starts at offset 8.
	FormatRaw byte = 0xA0
)

// RawHeaderSize is the size of the raw-format header; the payload starts at
// this offset.
const RawHeaderSize = 8

// RefTag is the CBOR tag number ray.Ref uses to encode itself.
//
// RFC 8949 §9.2 assigns tag numbers 32768..2^64-1 on a first-come,
// first-served basis. 5390681 (0x524159, ASCII "RAY") lies in that range
// and, as far as we know, is not assigned in the IANA "CBOR Tags" registry.
// It is NOT registered with IANA; it is only meaningful between goray
// processes. Being > 65535 it encodes as a 5-byte tag head (0xDA 00 52 41 59).
const RefTag uint64 = 0x524159

var (
	// ErrEncode is wrapped by every error returned from the encoding
	// functions; the message names the Go type that could not be encoded.
	ErrEncode = errors.New("codec: cannot encode value")
	// ErrDecode is wrapped by every error returned from the decoding
	// functions; the message says what was expected and what was found.
	ErrDecode = errors.New("codec: cannot decode value")
)

// Decoding limits applied to CBOR input (see doc.go).
const (
	MaxNestedLevels  = 64
	MaxArrayElements = 1 << 27
	MaxMapPairs      = 1 << 24
)

var (
	encMode cbor.UserBufferEncMode
	decMode cbor.DecMode
	// decModeAnyMap is decMode with map[any]any as the default map type. It
	// is used as a fallback when decoding into *any fails because a map has
	// keys that are not text strings.
	decModeAnyMap cbor.DecMode
)

func init() {
	eo := cbor.EncOptions{
		Sort:          cbor.SortNone,          // speed; output need not be deterministic
		ShortestFloat: cbor.ShortestFloatNone, // float64 stays float64 (no conversion cost)
		NaNConvert:    cbor.NaNConvertNone,    // keep NaN payload bits exactly
		InfConvert:    cbor.InfConvertNone,    // keep ±Inf at the Go width
		Time:          cbor.TimeRFC3339Nano,   // full precision, keeps the zone offset
		TimeTag:       cbor.EncTagRequired,    // tag 0 so that *any decodes to time.Time
		IndefLength:   cbor.IndefLengthAllowed,
		NilContainers: cbor.NilContainerAsNull, // nil slice/map round-trips as nil
		TagsMd:        cbor.TagsAllowed,        // ray.Ref is a tag
	}
	em, err := eo.UserBufferEncMode()
	if err != nil {
		panic("codec: bad cbor encode options: " + err.Error())
	}
	do := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  MaxNestedLevels,
		MaxArrayElements: MaxArrayElements,
		MaxMapPairs:      MaxMapPairs,
		IndefLength:      cbor.IndefLengthAllowed,
		TagsMd:           cbor.TagsAllowed,
		IntDec:           cbor.IntDecConvertSignedOrBigInt,
		DefaultMapType:   reflect.TypeFor[map[string]any](),
		// Go strings may hold arbitrary bytes and the encoder does not
		// validate them, so the decoder must accept them back.
		UTF8:              cbor.UTF8DecodeInvalid,
		ExtraReturnErrors: cbor.ExtraDecErrorNone, // unknown struct fields are ignored
	}
	dm, err := do.DecMode()
	if err != nil {
		panic("codec: bad cbor decode options: " + err.Error())
	}
	do.DefaultMapType = nil
	dmAny, err := do.DecMode()
	if err != nil {
		panic("codec: bad cbor decode options: " + err.Error())
	}
	encMode, decMode, decModeAnyMap = em, dm, dmAny
}

// EncMode returns the configured CBOR encoding mode, for custom MarshalCBOR
// implementations that encode nested values.
func EncMode() cbor.EncMode { return encMode }

// DecMode returns the configured CBOR decoding mode, for custom
// UnmarshalCBOR implementations that decode nested values.
func DecMode() cbor.DecMode { return decMode }

// bufPool holds scratch buffers for CBOR encoding so that Marshal performs a
// single exact-size allocation for the result.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBuf = 64 << 10

// Marshal encodes v. Values of the raw fast-path types ([]byte and numeric
// slices, non-nil) are raw-encoded; everything else is CBOR-encoded.
func Marshal(v any) ([]byte, error) {
	return AppendMarshal(nil, v)
}

// AppendMarshal appends the encoding of v to dst and returns the extended
// slice. On error dst is returned unchanged in length.
func AppendMarshal(dst []byte, v any) ([]byte, error) {
	if n, ok := RawSize(v); ok {
		if n >= largeRaw && cap(dst)-len(dst) < n {
			return appendRawLarge(dst, v), nil
		}
		start := len(dst)
		dst = grow(dst, n)
		// Cannot fail: v is a raw value and the window is exactly n bytes.
		_ = MarshalTo(dst[start:], v)
		return dst, nil
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	err := encMode.MarshalToBuffer(v, buf)
	if err == nil {
		dst = grow(dst, 1+buf.Len())
		dst[len(dst)-buf.Len()-1] = FormatCBOR
		copy(dst[len(dst)-buf.Len():], buf.Bytes())
	}
	if buf.Cap() <= maxPooledBuf {
		bufPool.Put(buf)
	}
	if err != nil {
		return dst, fmt.Errorf("%w: Go type %T: %w", ErrEncode, v, err)
	}
	return dst, nil
}

// grow extends dst by n bytes, reallocating at most once.
func grow(dst []byte, n int) []byte {
	l := len(dst)
	if cap(dst)-l >= n {
		return dst[:l+n]
	}
	nd := make([]byte, l+n)
	copy(nd, dst)
	return nd
}

// Unmarshal decodes data into ptr, which must be a non-nil pointer. The
// result never aliases data.
func Unmarshal(data []byte, ptr any) error {
	_, err := unmarshal(data, ptr, false)
	return err
}

// UnmarshalView is Unmarshal, except that when the value is raw-encoded, ptr
// points at a slice of the matching element type, and the payload
// (data[8:]) is aligned for that element type, *ptr is set to alias data
// (zero copy) and aliased is true. The view's capacity equals its length,
// so appending to it never writes into data. When data is read-only shared
// memory the view is read-only too: writing to it faults or corrupts the
// shared object.
func UnmarshalView(data []byte, ptr any) (aliased bool, err error) {
	return unmarshal(data, ptr, true)
}

func unmarshal(data []byte, ptr any, view bool) (bool, error) {
	if err := checkPtr(ptr); err != nil {
		return false, err
	}
	if len(data) == 0 {
		return false, fmt.Errorf("%w: empty input, expected a format byte (0x%02X CBOR or 0x%02X raw)", ErrDecode, FormatCBOR, FormatRaw)
	}
	switch data[0] {
	case FormatCBOR:
		return false, unmarshalCBOR(data[1:], ptr)
	case FormatRaw:
		return unmarshalRaw(data, ptr, view)
	default:
		return false, fmt.Errorf("%w: unknown format byte 0x%02X, expected 0x%02X (CBOR) or 0x%02X (raw)", ErrDecode, data[0], FormatCBOR, FormatRaw)
	}
}

// checkPtr verifies ptr is a non-nil pointer without allocating.
func checkPtr(ptr any) error {
	switch p := ptr.(type) {
	case *any:
		if p != nil {
			return nil
		}
	case *int:
		if p != nil {
			return nil
		}
	case *[]byte:
		if p != nil {
			return nil
		}
	case *[]float64:
		if p != nil {
			return nil
		}
	case nil:
		return fmt.Errorf("%w: destination is nil, expected a non-nil pointer", ErrDecode)
	default:
		rv := reflect.ValueOf(ptr)
		if rv.Kind() != reflect.Pointer {
			return fmt.Errorf("%w: destination is non-pointer %T, expected a non-nil pointer", ErrDecode, ptr)
		}
		if !rv.IsNil() {
			return nil
		}
	}
	return fmt.Errorf("%w: destination is a nil %T, expected a non-nil pointer", ErrDecode, ptr)
}

func unmarshalCBOR(item []byte, ptr any) error {
	err := decMode.Unmarshal(item, ptr)
	if err == nil {
		return nil
	}
	if p, ok := ptr.(*any); ok {
		// With map[string]any as the default map type, a map with
		// non-text keys cannot be decoded into any; retry with map[any]any
		// for the whole value.
		var ute *cbor.UnmarshalTypeError
		if errors.As(err, &ute) {
			var v any
			if err2 := decModeAnyMap.Unmarshal(item, &v); err2 == nil {
				*p = v
				return nil
			}
		}
	}
	return fmt.Errorf("%w: CBOR into %T: %w", ErrDecode, ptr, err)
}
