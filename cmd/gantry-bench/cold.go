package main

// This file holds benchmark (a): cold calls of the default format against `docker run`.

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/runner"
)

// cold times default-format calls against `docker run --rm -i` of the same image, in turn
// on Docker's default bridge and on Gantry's function network: the target compares like with
// like (the function network's isolation costs Docker some set-up on every container, and
// is not Gantry's overhead); the default bridge is reported beside it.
func (b *bench) cold(ctx context.Context, n int) ([]row, error) {
	image := b.images["hello"]
	input := `{"name":"bench"}`
	dockerRun := func(args ...string) func() error {
		return func() error {
			cmd := exec.Command("docker", append(append([]string{"run", "--rm", "-i"}, args...), image)...)
			cmd.Stdin = strings.NewReader(input)
			out, err := cmd.Output()
			if err != nil || string(out) != "Hello bench!" {
				return fmt.Errorf("docker run: %q %v", out, err)
			}
			return nil
		}
	}
	paths := []func() error{
		func() error { return b.do("POST", b.url("/r/"+benchApp+"/cold"), input) },
		dockerRun("--network", runner.DefaultFunctionNetwork),
		dockerRun(),
	}
	for range 2 { // warm every path
		for _, run := range paths {
			if err := run(); err != nil {
				return nil, err
			}
		}
	}
	times := make([][]time.Duration, len(paths))
	for i := range n {
		for j := range paths { // each path goes first as often as the others
			k := (i + j) % len(paths)
			t0 := time.Now()
			if err := paths[k](); err != nil {
				return nil, err
			}
			times[k] = append(times[k], time.Since(t0))
		}
	}
	// Let the removal of the cold containers finish before anything else is timed.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if n, err := b.containers(ctx, "/cold"); err != nil || n == 0 {
			break
		}
	}
	pg, pn, pd := pct(times[0], 50), pct(times[1], 50), pct(times[2], 50)
	same, bridge := float64(pg)/float64(pn), float64(pg)/float64(pd)
	return []row{
		{name: "(a) cold call p50, default format vs docker run --rm -i on the function network", gantry: ms(pg), baseline: ms(pn),
			result: fmt.Sprintf("%.2f", same), target: "<= 0.95", ok: same <= 0.95},
		{name: "(a) cold call p50, default format vs docker run --rm -i on Docker's default bridge", gantry: ms(pg), baseline: ms(pd),
			result: fmt.Sprintf("%.2f", bridge), target: "reported", ok: true},
	}, nil
}
