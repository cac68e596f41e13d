// Package leaktest checks, at the end of a test, that the goroutines it started have ended:
// servers that stop, clients that cancel their attempts. It is for tests only.
package leaktest

import (
	"runtime"
	"testing"
	"time"
)

// Check records the goroutines running now and, when t ends, fails it if more are still
// running after a settling period (goroutines of closed connections take a moment to exit).
func Check(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines left running, %d before the test:\n%s", n, before, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
