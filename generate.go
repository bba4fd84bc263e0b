package ray

//go:generate go run ./internal/cmd/genwrappers wrappers_gen.go
