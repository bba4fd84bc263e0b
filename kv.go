package ray

import (
	"context"

	"github.com/goray/ray/internal/proto"
)

// The cluster's small key-value store, kept by the GCS on the head, per
// namespace (Ray's internal KV). For small metadata: values are at most
// 1 MiB.

// KVPut stores value under key. Without overwrite an existing key is kept;
// it reports whether the value was written.
func KVPut(ctx context.Context, key string, value []byte, overwrite bool) (bool, error) {
	r, err := kv(ctx, proto.GCSKVPut, key, value, overwrite)
	if err != nil {
		return false, err
	}
	return r.Found, nil
}

// KVGet returns key's value and whether it exists.
func KVGet(ctx context.Context, key string) ([]byte, bool, error) {
	r, err := kv(ctx, proto.GCSKVGet, key, nil, false)
	if err != nil {
		return nil, false, err
	}
	return r.Value, r.Found, nil
}

// KVDel deletes key and reports whether it existed.
func KVDel(ctx context.Context, key string) (bool, error) {
	r, err := kv(ctx, proto.GCSKVDel, key, nil, false)
	if err != nil {
		return false, err
	}
	return r.Found, nil
}

// KVKeys lists the keys with the given prefix, sorted.
func KVKeys(ctx context.Context, prefix string) ([]string, error) {
	r, err := kv(ctx, proto.GCSKVKeys, prefix, nil, false)
	if err != nil {
		return nil, err
	}
	return r.Keys, nil
}

func kv(ctx context.Context, method byte, key string, value []byte, overwrite bool) (*proto.KVReply, error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return nil, err
	}
	return rt.KV(ctx, method, key, value, overwrite)
}
