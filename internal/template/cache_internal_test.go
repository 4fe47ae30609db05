package template

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// TestCompiledWeight: a compiled template's weight covers the memory it
// holds, which for dense tags is many times its source (raymond's tree),
// so that a cache bounded by weight is bounded in memory.
func TestCompiledWeight(t *testing.T) {
	src := strings.Repeat("x{{a}}", 100<<10/6)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	c, err := Compile(Content{HTML: src})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	held := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	if held > int64(c.weight) {
		t.Errorf("%d KB of template holds %d KB; its weight is %d KB", len(src)>>10, held>>10, c.weight>>10)
	}
	if c.weight < 20*len(src) {
		t.Errorf("weight %d for %d bytes of dense tags", c.weight, len(src))
	}
	runtime.KeepAlive(c)
	plain, err := Compile(Content{HTML: strings.Repeat("x", 100<<10)})
	if err != nil {
		t.Fatal(err)
	}
	if plain.weight > 2*100<<10 {
		t.Errorf("weight %d for 100 KB of text", plain.weight)
	}
}

// TestCacheBoundedByWeight: distinct dense templates never take a cache
// past its bound (counted by source bytes, it held fifty times more
// memory than its bound said).
func TestCacheBoundedByWeight(t *testing.T) {
	k := cache{max: 4 << 20}
	unit := strings.Repeat("{{a}}", 2000) // 10 KB, about 0.8 MB of weight
	for i := range 12 {
		if _, err := k.compile(Content{Subject: fmt.Sprint(i), HTML: unit}); err != nil {
			t.Fatal(err)
		}
		if k.weight > k.max {
			t.Fatalf("after %d templates the cache weighs %d KB (bound %d KB)", i+1, k.weight>>10, k.max>>10)
		}
	}
	if len(k.m) > 5 {
		t.Errorf("the cache holds %d templates of 10 KB of dense tags within 4 MB", len(k.m))
	}
}
