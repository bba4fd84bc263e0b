package objstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/objstore"
)

func Example() {
	tmp, err := os.MkdirTemp("", "objstore-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	s, err := objstore.Open(objstore.Config{Dir: filepath.Join(tmp, "store"), Capacity: 1 << 30})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	ctx := context.Background()
	id := ids.PutID(ids.NewTaskIDGen().Next(), 1)

	// Creator: reserve, fill through a writable mapping, seal.
	payload := make([]byte, 1<<20)
	copy(payload, "hello")
	path, err := s.Create(ctx, id, int64(len(payload)))
	if err != nil {
		panic(err)
	}
	w, err := objstore.OpenWriter(path, int64(len(payload)))
	if err != nil {
		panic(err)
	}
	copy(w.Bytes(), payload)
	w.Close()
	if err := s.Seal(id); err != nil {
		panic(err)
	}

	// Reader: wait for the object, then map it without copying.
	path, size, err := s.Wait(ctx, id)
	if err != nil {
		panic(err)
	}
	view, err := objstore.MapReadOnly(path, size)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(view), string(view[:5]))
	fmt.Printf("%+v\n", s.Stats())
	// Output:
	// 1048576 hello
	// {Capacity:1073741824 Used:1048576 NumObjects:1 NumSealed:1 NumWaiting:0 Pooled:0 NumPooled:0}
}
