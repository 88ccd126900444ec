package lru

import (
	"sync"
	"testing"
)

func TestCache(t *testing.T) {
	c := New[int, string](2)
	c.Add(1, "a")
	c.Add(2, "b")
	c.Get(1) // 2 is now the least recently used
	c.Add(3, "c")
	if _, ok := c.Get(2); ok {
		t.Error("2 not evicted")
	}
	if v, ok := c.Get(1); !ok || v != "a" {
		t.Errorf("1: %q %v", v, ok)
	}
	c.Add(1, "A")
	if v, _ := c.Get(1); v != "A" || c.Len() != 2 {
		t.Errorf("update: %q, %d entries", v, c.Len())
	}
	if keys := c.Keys(); len(keys) != 2 || keys[0] != 1 || keys[1] != 3 {
		t.Errorf("Keys = %v, want [1 3] (most recent first)", keys)
	}
	c.Remove(3)
	c.Remove(42) // absent: nothing happens
	if _, ok := c.Get(3); ok || c.Len() != 1 {
		t.Errorf("Remove leaves 3, or %d entries", c.Len())
	}
	c.Add(4, "d")
	c.Add(5, "e") // evicts 1, the least recently used
	if _, ok := c.Get(1); ok || c.Len() != 2 {
		t.Errorf("after Remove the cache no longer evicts in order: %v", c.Keys())
	}
	c.Clear()
	if _, ok := c.Get(1); ok || c.Len() != 0 {
		t.Error("Clear leaves entries")
	}
	off := New[int, int](0)
	off.Add(1, 1)
	if _, ok := off.Get(1); ok || off.Len() != 0 {
		t.Error("a disabled cache stores")
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := New[int, int](16)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				k := (i*7 + g) % 40
				if v, ok := c.Get(k); ok && v != k*k {
					t.Errorf("%d: %d", k, v)
					return
				}
				c.Add(k, k*k)
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n > 16 {
		t.Errorf("%d entries, bound 16", n)
	}
}
