package ray

import (
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"

	"github.com/goray/ray/internal/core"
	"github.com/goray/ray/internal/ids"
)

// funcBase is a registered function plus per-call options.
type funcBase struct {
	f    *core.Func
	cfg  callConfig
	opts core.TaskOptions // prepared from cfg once
}

func defaultCallConfig() callConfig { return callConfig{maxRetries: 3, numReturns: 1} }

func (b *funcBase) with(opts []CallOption) *funcBase {
	nb := &funcBase{f: b.f, cfg: b.cfg}
	nb.cfg.resources = cloneMap(b.cfg.resources)
	for _, o := range opts {
		o.applyCall(&nb.cfg)
	}
	nb.opts = core.PrepareTaskOptions(nb.cfg.taskOptions(false))
	return nb
}

func cloneMap(m map[string]float64) map[string]float64 {
	if m == nil {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// funcName is the registration key: the function's symbol name.
func funcName(fn any) (name, loc string) {
	pc := reflect.ValueOf(fn).Pointer()
	f := runtime.FuncForPC(pc)
	if f == nil {
		panic("ray: cannot name a registered function")
	}
	file, line := f.FileLine(pc)
	return f.Name(), fmt.Sprintf("%s:%d", filepath.Base(file), line)
}

func registerFunc(fn any, args []reflect.Type, result reflect.Type, invoke func(ctx contextT, a []core.Arg) (any, error)) *funcBase {
	name, loc := funcName(fn)
	f := &core.Func{Name: name, Loc: loc, ArgTypes: args, Result: result, Invoke: invoke}
	core.Default.AddFunc(f)
	return newFuncBase(f)
}

func newFuncBase(f *core.Func) *funcBase {
	b := &funcBase{f: f, cfg: defaultCallConfig()}
	b.opts = core.PrepareTaskOptions(b.cfg.taskOptions(false))
	return b
}

// callSite is where user code called Remote. Only its PC is taken on the
// hot path; it becomes file:line when an error message needs it.
type callSite uintptr

// callerLoc is the call site of the user code calling Remote.
func callerLoc() callSite {
	var pc [1]uintptr
	if runtime.Callers(3, pc[:]) == 0 {
		return 0
	}
	return callSite(pc[0])
}

func (c callSite) String() string {
	if c == 0 {
		return "?"
	}
	f, _ := runtime.CallersFrames([]uintptr{uintptr(c)}).Next()
	return fmt.Sprintf("%s:%d", filepath.Base(f.File), f.Line)
}

// lateError reports a registration made after Init: workers, which re-run
// the binary, never make it.
func lateError(loc callSite, name, regLoc string) error {
	return fmt.Errorf("%s: %s (registered at %s) was registered after ray.Init; workers will not know it — register functions, actors and methods in package-level var declarations: %w",
		loc, name, regLoc, ErrUnknownFunction)
}

func argCountError(got, want int) error {
	return fmt.Errorf("%w: got %d arguments, want %d", ErrInvalidArgument, got, want)
}

func argError(i int, err error) error {
	return fmt.Errorf("argument %d: %w", i, err)
}

// checkArgs matches call arguments to parameter types: a value of the type
// (numbers convert between numeric types, so untyped constants work), or a
// Ref to one.
func checkArgs(loc callSite, name string, types []reflect.Type, variadic bool, args []any) ([]core.ArgIn, error) {
	if !variadic && len(args) != len(types) {
		return nil, fmt.Errorf("%s: %s.Remote: %w", loc, name, argCountError(len(args), len(types)))
	}
	out := make([]core.ArgIn, len(args))
	for i, a := range args {
		want := types[min(i, len(types)-1)]
		if r, ok := a.(refArg); ok {
			if r.RefHandle() == nil {
				return nil, fmt.Errorf("%s: %s.Remote: argument %d is a zero Ref: %w", loc, name, i+1, ErrInvalidArgument)
			}
			if got := r.refElem(); !got.AssignableTo(want) {
				return nil, fmt.Errorf("%s: %s.Remote: argument %d is a Ref[%s], want %s or Ref[%s]: %w", loc, name, i+1, got, want, want, ErrInvalidArgument)
			}
			out[i] = core.ArgIn{Handle: r.RefHandle()}
			continue
		}
		if a == nil {
			switch want.Kind() {
			case reflect.Interface, reflect.Pointer, reflect.Slice, reflect.Map:
				out[i] = core.ArgIn{Value: nil}
				continue
			}
			return nil, fmt.Errorf("%s: %s.Remote: argument %d is nil, want %s: %w", loc, name, i+1, want, ErrInvalidArgument)
		}
		got := reflect.TypeOf(a)
		switch {
		case got.AssignableTo(want):
			out[i] = core.ArgIn{Value: a}
		case isNumber(got) && isNumber(want):
			out[i] = core.ArgIn{Value: reflect.ValueOf(a).Convert(want).Interface()}
		default:
			return nil, fmt.Errorf("%s: %s.Remote: argument %d has type %s, want %s: %w", loc, name, i+1, got, want, ErrInvalidArgument)
		}
	}
	return out, nil
}

func isNumber(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func (c *callConfig) taskOptions(forActor bool) core.TaskOptions {
	res := cloneMap(c.resources)
	if !forActor {
		if res == nil {
			res = map[string]float64{}
		}
		if _, ok := res["CPU"]; !ok {
			res["CPU"] = 1 // Ray's default for a task
		}
	}
	opts := core.TaskOptions{Resources: res, MaxRetries: c.maxRetries, RetryExceptions: c.retryExceptions,
		NumReturns: c.numReturns, ReturnsAsSlice: c.numReturns > 1, Strategy: c.strategy, AffinitySoft: c.affinitySoft}
	opts.AffinityNode = parseNodeID(c.affinityNode)
	return opts
}

// parseNodeID reads a node ID as GetRuntimeContext prints it; a malformed
// one becomes the zero ID, which no node has (a hard affinity to it fails
// with ErrUnschedulable).
func parseNodeID(s string) ids.NodeID {
	if s == "" {
		return ids.NodeID{}
	}
	id, _ := ids.ParseNodeID(s)
	return id
}

func (b *funcBase) remote(loc callSite, args []any) *core.Handle {
	rt := core.Current()
	if rt == nil {
		return core.FailedHandle(fmt.Errorf("%s: %s.Remote: %w", loc, b.f.Name, ErrNotInitialized))
	}
	if b.f.Late {
		return core.FailedHandle(lateError(loc, b.f.Name, b.f.Loc))
	}
	in, err := checkArgs(loc, b.f.Name, b.f.ArgTypes, b.f.Variadic, args)
	if err != nil {
		return core.FailedHandle(err)
	}
	if b.cfg.numReturns > 1 && b.f.Result.Kind() != reflect.Slice {
		return core.FailedHandle(fmt.Errorf("%s: %s: NumReturns(%d) needs a function returning a slice: %w", loc, b.f.Name, b.cfg.numReturns, ErrInvalidArgument))
	}
	return rt.Submit(b.f.Name, in, b.opts)
}

// RemoteFuncVariadic is a registered variadic function func(...A) R.
type RemoteFuncVariadic[A, R any] struct{ fn *funcBase }

// FuncVariadic registers a variadic function, like Ray's f(*args): each
// argument is an A or a Ref[A].
func FuncVariadic[A, R any](fn func(...A) R) *RemoteFuncVariadic[A, R] {
	name, loc := funcName(fn)
	f := &core.Func{Name: name, Loc: loc, ArgTypes: []reflect.Type{reflect.TypeFor[A]()}, Variadic: true, Result: reflect.TypeFor[R](),
		Invoke: func(_ contextT, args []core.Arg) (any, error) {
			vals := make([]A, len(args))
			for i, a := range args {
				v, err := core.Decode[A](a)
				if err != nil {
					return nil, argError(i+1, err)
				}
				vals[i] = v
			}
			return fn(vals...), nil
		}}
	core.Default.AddFunc(f)
	return &RemoteFuncVariadic[A, R]{fn: newFuncBase(f)}
}

// Options returns a copy of f whose calls use opts.
func (f *RemoteFuncVariadic[A, R]) Options(opts ...CallOption) *RemoteFuncVariadic[A, R] {
	return &RemoteFuncVariadic[A, R]{fn: f.fn.with(opts)}
}

// Remote submits a call with any number of arguments.
func (f *RemoteFuncVariadic[A, R]) Remote(args ...any) Ref[R] {
	return Ref[R]{h: f.fn.remote(callerLoc(), args)}
}
