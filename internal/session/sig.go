package session

import "syscall"

var syscallZero = syscall.Signal(0)
