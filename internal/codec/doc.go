// Package codec is the value encoding used for every user value that crosses
// a process boundary in goray: task arguments, task results and objects
// stored with ray.Put.
//
// # Model
//
// Every encoding starts with one format byte:
//
//   - FormatCBOR (0xC0) is followed directly by exactly one CBOR data item
//     (RFC 8949), produced by github.com/fxamacker/cbor/v2. Trailing bytes
//     after the item are a decode error.
//   - FormatRaw (0xA0) starts an 8-byte header: byte 1 is the element kind
//     (KindUint8 ... KindFloat64), bytes 2..7 are reserved and must be zero.
//     The elements follow from offset 8, little-endian, with no padding.
//
// Marshal picks the raw path for non-nil values of type []byte, []int8,
// []uint16, []int16, []uint32, []int32, []uint64, []int64, []int (encoded as
// int64), []uint (encoded as uint64), []float32 and []float64. The choice is a
// type switch, so named slice types (type Vec []float64) and nil slices take
// the CBOR path instead; a nil slice is encoded as CBOR null so that nil-ness
// survives the round trip. Everything else (integers, strings, structs,
// maps, pointers, slices of structs, time.Time, ...) is CBOR.
//
// For large arrays the raw path avoids per-element work entirely: on a
// little-endian host MarshalTo is a single memmove, and RawSize lets a caller
// allocate the destination (for example a shared-memory object buffer) of
// exactly the right size first. On big-endian hosts elements are byte-swapped
// after the copy.
//
// Raw values decode into a pointer to a slice with the same element kind
// (including named slice types such as *Vec), into *[]int from int64 data
// and *[]uint from uint64 data, or into *any, which yields the natural slice
// type ([]int64 for raw int data). Any other destination is an ErrDecode
// error, as is a payload whose length is not a multiple of the element size.
//
// # Zero-copy views
//
// Unmarshal never aliases its input. UnmarshalView does, when the value is
// raw-encoded, the destination is a pointer to a slice of the matching
// element type, and data[8:] is aligned to the element size: the resulting
// slice points into data (its capacity equals its length). When data is
// backed by read-only shared memory the view is read-only as well; writing
// through it faults or corrupts the shared object, and the view must not be
// used after the memory is released. A misaligned payload (or a big-endian
// host for multi-byte elements) falls back to a copy and reports
// aliased == false.
//
// # CBOR options
//
// Encoding (EncMode): map keys and struct fields are not sorted (speed;
// output is not deterministic across map iteration orders); floats are not
// shortened and NaN payloads / infinities are kept as is; time.Time is
// encoded as an RFC 3339 string with nanoseconds inside tag 0, so it
// decodes back to time.Time even into *any; nil slices and maps become null.
// Structs use their exported fields, keyed by field name unless a `cbor` (or
// `json`) tag says otherwise, so untagged structs round-trip.
//
// Decoding (DecMode) treats input as untrusted:
//
//   - at most 64 nested levels of arrays, maps and tags (MaxNestedLevels);
//   - at most 1<<27 array elements and 1<<24 map pairs per container
//     (MaxArrayElements, MaxMapPairs; the library allows up to 2^31-1);
//   - duplicate map keys are rejected (DupMapKeyEnforcedAPF);
//   - indefinite-length items are accepted;
//   - unknown map keys are ignored when decoding into a struct;
//   - text strings with invalid UTF-8 are accepted, because Go strings may
//     hold arbitrary bytes and the encoder does not check them.
//
// When decoding into *any: integers become int64 (big.Int when they do not
// fit, e.g. a uint64 above math.MaxInt64), floats float64, byte strings []byte,
// maps map[string]any, arrays []any and unknown tags cbor.Tag. A map whose
// keys are not all text strings cannot be a map[string]any; in that case the
// whole value is decoded again with map[any]any as the map type.
//
// Custom cbor.Marshaler / cbor.Unmarshaler implementations (such as ray.Ref,
// which encodes itself under tag RefTag) should use EncMode() and DecMode()
// for nested values so that the same options apply. The byte slice passed to
// UnmarshalCBOR aliases the caller's input and must not be retained.
//
// # Errors
//
// Every error from an encoding function wraps ErrEncode and names the Go
// type (channels and functions cannot be encoded); every decoding error wraps
// ErrDecode and says what was expected and what was found. Malformed input
// never panics. After a decode error the destination may be partially set.
//
// # Example
//
//	b, err := codec.Marshal(map[string]int{"a": 1})
//	...
//	var m map[string]int
//	err = codec.Unmarshal(b, &m)
//
//	// Raw fast path into a preallocated (shared-memory) buffer:
//	xs := []float64{1, 2, 3}
//	n, _ := codec.RawSize(xs) // 8 + 3*8
//	buf := alloc(n)
//	err = codec.MarshalTo(buf, xs)
//
//	// Zero-copy read-only view of the object:
//	var view []float64
//	aliased, err := codec.UnmarshalView(buf, &view)
package codec
