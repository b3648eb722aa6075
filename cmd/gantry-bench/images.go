package main

// This file holds the images benchmark: an upload and build of a 10 MiB context through
// the images service against `docker build` of a context of the same shape.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	dockerclient "github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/images"
	"github.com/gantry-dev/gantry/store"
	"github.com/gantry-dev/gantry/store/bolt"
)

// benchImageLabel marks the images this benchmark builds, so that they are all removed.
const benchImageLabel = "gantry.bench"

// imagesBench times n uploads + builds of a 10 MiB context through the images service
// (the HTTP API adds only the request around the same streaming upload) against n
// `docker build` runs (classic builder, no network, as Gantry builds) of contexts of the
// same shape. Each build gets fresh random bytes, so that neither hits the build cache.
func imagesBench(ctx context.Context, docker *dockerclient.Client, n int) ([]row, error) {
	dir, err := os.MkdirTemp("", "gantry-bench-images-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	st, err := bolt.Open(ctx, dir+"/data", bolt.Options{Node: "bench"})
	if err != nil {
		return nil, err
	}
	defer func() { _ = st.Close() }()
	run := fmt.Sprint(time.Now().UnixNano())
	defer removeBenchImages(docker, run)
	svc := images.New(st, docker, images.Config{Dir: dir + "/uploads", Node: "bench"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := svc.Start(ctx); err != nil {
		return nil, err
	}
	defer svc.Close()

	viaGantry := func(i int) error {
		tarball, err := benchContext(run)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("bench-%d", i)
		_, _, err = svc.Upload(ctx, store.Image{Name: name, Owner: "bench"}, bytes.NewReader(tarball), nil, nil)
		if err != nil {
			return err
		}
		for {
			img, err := st.GetImage(ctx, name)
			if err != nil {
				return err
			}
			switch img.Status {
			case store.ImageReady:
				return nil
			case store.ImageError:
				return fmt.Errorf("build %s: %s", name, img.Error)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	viaDocker := func(i int) error {
		tarball, err := benchContext(run)
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "docker", "build", "-q", "--network", "none", "--rm", "--force-rm",
			"-t", fmt.Sprintf("gantry-bench-images/%s:%d", run, i), "-")
		cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
		cmd.Stdin = bytes.NewReader(tarball)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("docker build: %v: %s", err, out)
		}
		return nil
	}
	paths := []func(int) error{viaGantry, viaDocker}
	times := make([][]time.Duration, len(paths))
	for i := range n + 1 { // the first round warms up and is not counted
		for j := range paths {
			k := (i + j) % len(paths)
			t0 := time.Now()
			if err := paths[k](i); err != nil {
				return nil, err
			}
			if i > 0 {
				times[k] = append(times[k], time.Since(t0))
			}
		}
	}
	g, d := pct(times[0], 50), pct(times[1], 50)
	ratio := float64(g) / float64(d)
	return []row{{
		name:     "images: upload + build of a 10 MiB context (service) vs docker build, p50",
		gantry:   ms(g),
		baseline: ms(d),
		result:   fmt.Sprintf("%.2fx", ratio),
		target:   "<= 1.2x",
		ok:       ratio <= 1.2,
	}}, nil
}

// benchContext is a build context of 10 MiB of fresh random bytes and a Dockerfile that
// copies them into a FROM scratch image labelled with run.
func benchContext(run string) ([]byte, error) {
	blob := make([]byte, 10<<20)
	_, _ = rand.Read(blob)
	dockerfile := "FROM scratch\nLABEL " + benchImageLabel + "=" + run + "\nCOPY blob /blob\n"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{"Dockerfile", []byte(dockerfile)}, {"blob", blob}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// removeBenchImages removes every image of this run (both paths label theirs).
func removeBenchImages(docker *dockerclient.Client, run string) {
	ctx := context.Background()
	list, err := docker.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", benchImageLabel+"="+run))})
	if err != nil {
		return
	}
	for _, im := range list {
		for _, t := range im.RepoTags {
			if strings.HasPrefix(t, "gantry-") {
				_, _ = docker.ImageRemove(ctx, t, image.RemoveOptions{PruneChildren: true})
			}
		}
		_, _ = docker.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true})
	}
}
