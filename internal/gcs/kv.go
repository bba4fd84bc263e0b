package gcs

import (
	"slices"
	"strings"

	"github.com/goray/ray/internal/proto"
)

// maxKVValue bounds one KV value: the KV is for small metadata.
const maxKVValue = 1 << 20

// KV applies a KV operation (method is one of proto.GCSKV*).
func (g *GCS) KV(method byte, r proto.KVRequest) proto.KVReply {
	g.mu.Lock()
	defer g.mu.Unlock()
	ns := g.kv[r.Namespace]
	switch method {
	case proto.GCSKVPut:
		if len(r.Value) > maxKVValue {
			return proto.KVReply{}
		}
		if ns == nil {
			ns = map[string][]byte{}
			g.kv[r.Namespace] = ns
		}
		if _, exists := ns[r.Key]; exists && !r.Overwrite {
			return proto.KVReply{}
		}
		ns[r.Key] = slices.Clone(r.Value)
		return proto.KVReply{Found: true}
	case proto.GCSKVGet:
		v, ok := ns[r.Key]
		return proto.KVReply{Found: ok, Value: v}
	case proto.GCSKVDel:
		_, ok := ns[r.Key]
		delete(ns, r.Key)
		return proto.KVReply{Found: ok}
	case proto.GCSKVKeys:
		var keys []string
		for k := range ns {
			if strings.HasPrefix(k, r.Key) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		return proto.KVReply{Found: len(keys) > 0, Keys: keys}
	}
	return proto.KVReply{}
}
