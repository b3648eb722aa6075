// Command build-images builds Gantry's function images from the functions/
// folder with the local Docker daemon (no registry needed):
//
//	go run ./internal/fnimage/cmd/build-images [-tag-suffix dev] [-repo gantry] [NAME...]
//
// Each functions/NAME becomes the image <repo>/NAME:<tag-suffix>, for example
// gantry/hello:dev, gantry/hello-http:dev and gantry/hello-json:dev. Without
// names it builds every function in functions/. An image whose tag already
// holds the current sources is left as it is. The tags built are printed on
// stdout, one per line; progress goes to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/docker/docker/client"
	"github.com/gantry-dev/gantry/internal/fnimage"
)

func main() {
	suffix := flag.String("tag-suffix", "dev", "image tag")
	repo := flag.String("repo", "gantry", "image repository prefix")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: build-images [-tag-suffix dev] [-repo gantry] [NAME...]\n\n"+
			"Builds functions/NAME into the image <repo>/NAME:<tag-suffix> (all functions without names).\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *repo, *suffix, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "build-images: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, repo, suffix string, names []string) error {
	if len(names) == 0 {
		all, err := allFunctions()
		if err != nil {
			return err
		}
		names = all
	}
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer docker.Close()
	for _, name := range names {
		start := time.Now()
		tag, err := fnimage.Build(ctx, docker, name, repo+"/"+name+":"+suffix)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s: %s (%v)\n", name, tag, time.Since(start).Round(time.Millisecond))
		fmt.Println(tag)
	}
	return nil
}

// allFunctions lists the folders under functions/.
func allFunctions() ([]string, error) {
	root, err := fnimage.ModuleRoot()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(root, fnimage.FunctionsDir))
	if err != nil {
		return nil, fmt.Errorf("list functions: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
