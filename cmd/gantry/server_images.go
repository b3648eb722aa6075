package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gantry-dev/gantry/images"
)

// imagesConfig is the configuration of the images service: where uploads go, how large
// they may be, how many builds run at once, for how long and with what resources.
type imagesConfig struct {
	maxUpload    byteSize      // --max-image-upload
	builds       int           // --image-builds
	buildTimeout time.Duration // --image-build-timeout
	buildMemory  byteSize      // --image-build-memory
	buildCPUs    float64       // --image-build-cpus
}

func (c *imagesConfig) flags(f *pflag.FlagSet) {
	c.maxUpload = images.DefaultMaxUpload
	f.Var(&c.maxUpload, "max-image-upload", "largest upload of PUT /v1/images/{name} (a build context or image tarball), in bytes or with a KiB, MiB or GiB suffix (413 above); uploads are streamed to <data-dir>/uploads")
	f.IntVar(&c.builds, "image-builds", images.DefaultBuilds, "image builds, loads and pulls run at once on this node (the others wait their turn)")
	f.DurationVar(&c.buildTimeout, "image-build-timeout", images.DefaultBuildTimeout, "time limit of an image build, load or pull (it ends ERROR past it)")
	c.buildMemory = images.DefaultBuildMemory
	f.Var(&c.buildMemory, "image-build-memory", "memory of the RUN steps of an image build (no swap), in bytes or with a KiB, MiB or GiB suffix")
	f.Float64Var(&c.buildCPUs, "image-build-cpus", images.DefaultBuildCPUs, "CPUs of the RUN steps of an image build (a fraction, such as 0.5, is a share of one)")
}

// service builds the images service of node over st and the Docker daemon d. Uploads are
// streamed to <data-dir>/uploads, the node's own directory whatever the store is.
func (c imagesConfig) service(st images.Store, d images.Docker, dataDir, node string, log *slog.Logger) (*images.Service, error) {
	if c.builds < 1 {
		return nil, fmt.Errorf("--image-builds %d: at least 1", c.builds)
	}
	if c.buildTimeout < time.Second {
		return nil, fmt.Errorf("--image-build-timeout %s: at least 1s", c.buildTimeout)
	}
	if c.buildMemory < minBuildMemory {
		return nil, fmt.Errorf("--image-build-memory %s: at least 6MiB (Docker's least)", c.buildMemory.String())
	}
	if !(c.buildCPUs >= 0.01) || c.buildCPUs > 1024 { // NaN too
		return nil, fmt.Errorf("--image-build-cpus %v: from 0.01 to 1024", c.buildCPUs)
	}
	return images.New(st, d, images.Config{
		Dir: filepath.Join(dataDir, "uploads"), MaxUpload: int64(c.maxUpload), BuildTimeout: c.buildTimeout, Builds: c.builds, Node: node,
		BuildMemory: int64(c.buildMemory), BuildCPUs: c.buildCPUs,
	}, log.With("component", "images")), nil
}

// minBuildMemory is the least memory Docker gives a container.
const minBuildMemory = 6 << 20

// byteSize is a flag of a number of bytes: plain ("536870912") or with a binary unit
// ("512MiB", "64KiB", "1GiB"; "B" for bytes).
type byteSize int64

func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Set(s string) error {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if v, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(v), u.size
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || strings.HasPrefix(num, "+") {
		return fmt.Errorf("want a number of bytes, at least 1, optionally with a KiB, MiB or GiB suffix: 536870912, 512MiB, 1GiB")
	}
	if n > (1<<62)/mult {
		return fmt.Errorf("%q is too large", s)
	}
	*b = byteSize(n * mult)
	return nil
}

func (b *byteSize) Type() string { return "size" }
