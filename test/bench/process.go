package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// memoryReading is the manager's memory right after a garbage collection the
// benchmark forced.
type memoryReading struct {
	// heapInuse and heapAlloc are runtime.MemStats.HeapInuse (the figure
	// go_memstats_heap_inuse_bytes exposes: spans in use, fragmentation
	// included) and HeapAlloc (live objects: right after a collection, what the
	// manager retains).
	heapInuse, heapAlloc float64
	rss                  float64
}

// memoryAfterGC forces a garbage collection in the manager and reads its heap
// at once, through /debug/pprof/heap?gc=1&debug=1 (--pprof-bind-address): the
// handler runs runtime.GC, writes the profile and ends with runtime.MemStats.
// A scrape of /metrics would read the heap at a random point of the sawtooth
// between collections, and the scrape itself allocates (the credential
// collector lists every credential).
func (p *managerProcess) memoryAfterGC(ctx context.Context) (memoryReading, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.pprofURL+"heap?gc=1&debug=1", nil)
	if err != nil {
		return memoryReading{}, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return memoryReading{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return memoryReading{}, fmt.Errorf("pprof heap endpoint answered %s", resp.Status)
	}
	stats, err := parseMemStats(resp.Body)
	if err != nil {
		return memoryReading{}, err
	}
	r := memoryReading{heapInuse: stats["HeapInuse"], heapAlloc: stats["HeapAlloc"]}
	if r.heapInuse == 0 || r.heapAlloc == 0 {
		return memoryReading{}, errors.New("no HeapInuse or HeapAlloc in the heap profile's MemStats")
	}
	r.rss, err = p.rssBytes()
	return r, err
}

// parseMemStats reads the "# Name = value" lines a debug=1 heap profile ends
// with (runtime.MemStats).
func parseMemStats(r io.Reader) (map[string]float64, error) {
	stats := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if !ok || strings.ContainsAny(name, " []") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			stats[name] = v
		}
	}
	return stats, sc.Err()
}

// saveHeapProfile writes the manager's heap profile (after a forced garbage
// collection) to path, for go tool pprof.
func (p *managerProcess) saveHeapProfile(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.pprofURL+"heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof heap endpoint answered %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's times:
// 100 on every Linux the benchmark runs on (the Prometheus process collector
// assumes the same).
const clockTicks = 100

// cpuSeconds returns the CPU time (user and system) the manager has used
// since it started: the figure process_cpu_seconds_total exposes, read from
// /proc/<pid>/stat without a scrape, whose own cost would be counted.
func (p *managerProcess) cpuSeconds() (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.m.Pid()))
	if err != nil {
		return 0, err
	}
	return parseCPUSeconds(string(data))
}

// parseCPUSeconds reads utime and stime (fields 14 and 15) of a
// /proc/<pid>/stat line. The command (field 2) may hold spaces and
// parentheses, so fields are counted from its last ')'.
func parseCPUSeconds(stat string) (float64, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("malformed /proc/<pid>/stat")
	}
	fields := strings.Fields(stat[end+1:]) // fields[0] is field 3, the state
	if len(fields) < 13 {
		return 0, errors.New("short /proc/<pid>/stat")
	}
	utime, err := strconv.ParseFloat(fields[11], 64)
	if err != nil {
		return 0, err
	}
	stime, err := strconv.ParseFloat(fields[12], 64)
	if err != nil {
		return 0, err
	}
	return (utime + stime) / clockTicks, nil
}
