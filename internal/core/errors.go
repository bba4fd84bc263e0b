package core

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/goray/ray/internal/codec"
	"github.com/goray/ray/internal/proto"
)

// Sentinel errors. The ray package re-exports them.
var (
	ErrNotInitialized  = errors.New("ray: not initialized (call ray.Init first)")
	ErrTaskCancelled   = errors.New("ray: task cancelled")
	ErrWorkerCrashed   = errors.New("ray: worker crashed")
	ErrActorDied       = errors.New("ray: actor died")
	ErrActorNotFound   = errors.New("ray: actor not found")
	ErrNameTaken       = errors.New("ray: actor name already taken")
	ErrObjectLost      = errors.New("ray: object lost")
	ErrOwnerDied       = errors.New("ray: owner died")
	ErrObjectStoreFull = errors.New("ray: object store full")
	ErrTimeout         = errors.New("ray: timed out")
	ErrUnknownFunction = errors.New("ray: unknown function")
	ErrInvalidArgument = errors.New("ray: invalid argument")
	ErrEncode          = errors.New("ray: cannot encode value")
	ErrDecode          = errors.New("ray: cannot decode value")
)

// TaskError is a task's failure as seen by Get: the error or panic raised
// remotely, where, and with what stack.
type TaskError struct {
	Func   string // registered function or method name
	Msg    string // the remote error's message
	Stack  string // the remote stack trace (panics) or the error's origin
	PID    int    // the worker process
	NodeID string
	Panic  bool
	// Cause is the remote error value when its type (or it, for a sentinel)
	// was registered with RegisterError; errors.Is/As reach it.
	Cause error
}

func (e *TaskError) Error() string {
	kind := "error"
	if e.Panic {
		kind = "panic"
	}
	s := fmt.Sprintf("ray: task %s failed (pid=%d, node=%.8s): %s: %s", e.Func, e.PID, e.NodeID, kind, e.Msg)
	if e.Stack != "" {
		s += "\n\nremote stack:\n" + e.Stack
	}
	return s
}

// Unwrap returns the registered cause, if any.
func (e *TaskError) Unwrap() error { return e.Cause }

// errorRegistry maps registered error types and sentinel values to names.
var errorRegistry = struct {
	sync.RWMutex
	types     map[string]reflect.Type
	typeNames map[reflect.Type]string
	sentinels map[string]error
	sentNames map[error]string
}{types: map[string]reflect.Type{}, typeNames: map[reflect.Type]string{}, sentinels: map[string]error{}, sentNames: map[error]string{}}

// RegisterError makes err's identity survive a trip through a task: a
// comparable sentinel (errors.New) is matched by errors.Is on the caller's
// side; any other error type (a struct or pointer to struct with exported
// fields) is re-created there so errors.As finds it. Register at init in
// every process (same binary: same registrations).
func RegisterError(err error) {
	t := reflect.TypeOf(err)
	errorRegistry.Lock()
	defer errorRegistry.Unlock()
	if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && t.Elem().NumField() > 0 && hasExported(t.Elem()) {
		name := t.String()
		if _, dup := errorRegistry.types[name]; dup {
			panic("ray: error type registered twice: " + name)
		}
		errorRegistry.types[name] = t
		errorRegistry.typeNames[t] = name
		return
	}
	name := "sentinel:" + err.Error()
	if _, dup := errorRegistry.sentinels[name]; dup {
		panic("ray: two registered sentinel errors share the message " + err.Error())
	}
	errorRegistry.sentinels[name] = err
	errorRegistry.sentNames[err] = name
}

func hasExported(t reflect.Type) bool {
	for i := range t.NumField() {
		if t.Field(i).IsExported() {
			return true
		}
	}
	return false
}

func init() {
	for _, e := range []error{ErrTaskCancelled, ErrWorkerCrashed, ErrActorDied, ErrActorNotFound, ErrObjectLost,
		ErrOwnerDied, ErrObjectStoreFull, ErrTimeout, ErrUnknownFunction, ErrInvalidArgument, ErrEncode, ErrDecode} {
		RegisterError(e)
	}
}

// encodeCause finds the outermost registered error in err's chain.
func encodeCause(err error) (string, []byte) {
	errorRegistry.RLock()
	defer errorRegistry.RUnlock()
	for e := err; e != nil; e = errors.Unwrap(e) {
		if reflect.TypeOf(e).Comparable() {
			if name, ok := errorRegistry.sentNames[e]; ok {
				return name, nil
			}
		}
		if name, ok := errorRegistry.typeNames[reflect.TypeOf(e)]; ok {
			if b, err := codec.Marshal(e); err == nil {
				return name, b
			}
		}
	}
	return "", nil
}

func decodeCause(name string, data []byte) error {
	if name == "" {
		return nil
	}
	errorRegistry.RLock()
	defer errorRegistry.RUnlock()
	if e, ok := errorRegistry.sentinels[name]; ok {
		return e
	}
	t, ok := errorRegistry.types[name]
	if !ok {
		return nil
	}
	p := reflect.New(t) // *T where T is a pointer type
	if err := codec.Unmarshal(data, p.Interface()); err != nil {
		return nil
	}
	e, _ := p.Elem().Interface().(error)
	return e
}

// errorFromInfo turns a wire error into the error Get returns.
func errorFromInfo(info *proto.ErrorInfo) error {
	switch info.Kind {
	case proto.ErrKindCancelled:
		return fmt.Errorf("%w: %s", ErrTaskCancelled, info.Msg)
	case proto.ErrKindWorkerCrashed:
		return fmt.Errorf("%w: %s", ErrWorkerCrashed, info.Msg)
	case proto.ErrKindActorDied:
		return fmt.Errorf("%w: %s", ErrActorDied, info.Msg)
	case proto.ErrKindObjectLost:
		return fmt.Errorf("%w: %s", ErrObjectLost, info.Msg)
	case proto.ErrKindOwnerDied:
		return fmt.Errorf("%w: %s", ErrOwnerDied, info.Msg)
	case proto.ErrKindStoreFull:
		return fmt.Errorf("%w: %s", ErrObjectStoreFull, info.Msg)
	case proto.ErrKindSystem:
		if c := decodeCause(info.CauseType, info.CauseData); c != nil {
			return fmt.Errorf("%w: %s", c, info.Msg)
		}
		return errors.New(info.Msg)
	}
	return &TaskError{
		Func: info.Func, Msg: info.Msg, Stack: info.Stack, PID: info.PID, NodeID: info.NodeID.String(),
		Panic: info.Kind == proto.ErrKindPanic, Cause: decodeCause(info.CauseType, info.CauseData),
	}
}

// infoFromError turns a local failure into a wire error.
func infoFromError(kind uint8, fn string, err error) *proto.ErrorInfo {
	name, data := encodeCause(err)
	return &proto.ErrorInfo{Kind: kind, Func: fn, Msg: err.Error(), CauseType: name, CauseData: data}
}

// systemError makes a wire error for a goray-level failure wrapping a
// sentinel, e.g. ErrUnknownFunction.
func systemError(err error) *proto.ErrorInfo { return infoFromError(proto.ErrKindSystem, "", err) }
