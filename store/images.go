package store

import (
	"context"
	"regexp"
	"strings"
	"time"
)

// Image kinds.
const (
	ImageKindFunction = "function" // routes run it as "@name"
	ImageKindBase     = "base"     // other images build on it
)

// Image sources: where an image comes from.
const (
	ImageSourceReference = "reference" // a Docker reference the node pulls
	ImageSourceBuild     = "build"     // an uploaded build context with a Dockerfile
	ImageSourceLoad      = "load"      // an uploaded `docker save` tarball
)

// Image statuses: the state of the image's last build, load or pull.
const (
	ImageCreating = "CREATING"
	ImageReady    = "READY"
	ImageError    = "ERROR"
)

// ImageRefPrefix starts a route's Image (and an image's Base) that names an image Gantry
// manages rather than a Docker reference: "@name".
const ImageRefPrefix = "@"

// MaxImageLog caps an image's stored build log: the end is kept.
const MaxImageLog = 1 << 20

// MaxImageNameLen caps an image's name.
const MaxImageNameLen = 63

// imageNameRE is Docker's grammar of a reference's path component: the name is tagged
// "gantry-images/<name>:<build>", so a name it refuses would fail every build.
var imageNameRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// ValidImageName reports whether name is an image name: at most MaxImageNameLen bytes of
// Docker's path-component grammar (lowercase letters and digits, separated by one ".",
// one or two "_", or dashes).
func ValidImageName(name string) bool {
	return len(name) <= MaxImageNameLen && imageNameRE.MatchString(name)
}

// Image is an image Gantry manages. Names are unique across owners. An image's Digest is
// what routes that name it run: that of its last build, load or pull that ended READY; a
// new build leaves it until the build ends READY, so a failed rebuild keeps the routes
// running the last good digest.
type Image struct {
	// ID is Gantry's ID of the image (set by the store when it is created).
	ID     string `json:"id"`
	Name   string `json:"name"`
	Owner  string `json:"owner"`
	Kind   string `json:"kind"`   // ImageKindFunction or ImageKindBase
	Source string `json:"source"` // ImageSource*
	// Reference is the Docker reference a source-reference image pulls.
	Reference string `json:"reference,omitempty"`
	// Base ("@name"), Network (NetworkNone or NetworkBridge) and Dockerfile (a path in the
	// context) are a build's.
	Base       string `json:"base,omitempty"`
	Network    string `json:"network,omitempty"`
	Dockerfile string `json:"dockerfile,omitempty"`
	Status     string `json:"status"` // ImageCreating, ImageReady or ImageError
	Error      string `json:"error,omitempty"`
	// Build is the ID of the image's current (or last) build, load or pull: a new one each
	// time; the worker that runs it writes its outcome only while Build is still its own.
	Build string `json:"build"`
	// Node is the node (store.Node) that runs or ran the current build.
	Node string `json:"node,omitempty"`
	// Digest is the Docker image ID (sha256:...) of the last build that ended READY, Size
	// its size in bytes, Tag the Docker reference Gantry tagged it as, BuiltAt when.
	Digest    string    `json:"digest,omitempty"`
	Size      int64     `json:"size,omitempty"`
	Tag       string    `json:"tag,omitempty"`
	BuiltAt   time.Time `json:"built_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ImageFilter selects images; empty fields match everything.
type ImageFilter struct {
	Kind string
	// Visible, when set, keeps only the images it accepts (those a caller may see).
	Visible func(Image) bool
}

// ImageUser is a resource that names an image: a route ("app" and "/path") or another
// image (Base).
type ImageUser struct {
	App   string `json:"app,omitempty"`
	Path  string `json:"path,omitempty"`
	Image string `json:"image,omitempty"`
}

func (u ImageUser) String() string {
	if u.Image != "" {
		return "image " + u.Image
	}
	return "route " + u.App + u.Path
}

// RouteFilter selects routes across apps; empty fields match everything.
type RouteFilter struct {
	// Owner keeps only the routes of apps this identity owns.
	Owner string
}

// Images are the images Gantry manages. Names are unique across owners. Every write of an
// image (create, update, delete) sends a ChangeImage naming it, delivered on the writing
// node before the write returns (see Changes).
type Images interface {
	// CreateImage stores a new image (ID, CreatedAt, UpdatedAt set here, defaults applied,
	// ErrInvalid when Validate refuses it); ErrExists if the name is taken.
	CreateImage(ctx context.Context, img Image) (Image, error)
	// UpdateImage applies fn to the stored image in one write; fn may not rename it nor
	// change its ID or Owner (ErrInvalid), and the CreatedAt it sets is ignored; the result
	// must Validate. UpdatedAt moves past the stored one. guard vets the stored owner first
	// (ErrNotFound from it for an image the caller may not see). fn may run more than once
	// (PostgreSQL runs a transaction again after a deadlock): it must only edit the image.
	UpdateImage(ctx context.Context, name string, fn func(*Image) error, guard AppGuard) (Image, error)
	GetImage(ctx context.Context, name string) (Image, error)
	// ListImages returns a page of the images that pass f, in name order.
	ListImages(ctx context.Context, f ImageFilter, page Page) ([]Image, string, error)
	// DeleteImage removes an image and its log, checking inside the write that nothing uses
	// it: ErrConflict (an ImageInUseError listing them, at most 20) while a route names it as
	// "@name" or another image has it as Base; check, when not nil, runs inside the write on
	// the stored image (e.g. to refuse one that is CREATING) after guard; like UpdateImage's
	// fn, guard and check may run more than once.
	DeleteImage(ctx context.Context, name string, guard AppGuard, check func(Image) error) error
	// ImageUsers lists (at most limit; all when limit <= 0) the routes that name image
	// name as "@name", in app then path order, then the images whose Base it is, in name
	// order. It reads users whether or not the image exists (never ErrNotFound).
	ImageUsers(ctx context.Context, name string, limit int) ([]ImageUser, error)
	// SetImageLog replaces the build log of the image's build build (only while the image's
	// Build is still build: a stale worker's write is dropped, ErrConflict). The log is cut
	// to its last MaxImageLog bytes. ErrNotFound without the image. It sends no change:
	// followers of a log read it again.
	SetImageLog(ctx context.Context, name, build string, log []byte) error
	// GetImageLog reads the image's log: empty if none, ErrNotFound without the image.
	GetImageLog(ctx context.Context, name string) ([]byte, error)
	// ListAllRoutes returns a page of the routes of every app that passes f, in app then path order.
	ListAllRoutes(ctx context.Context, f RouteFilter, page Page) ([]Route, string, error)
}

// ImageInUseError is the ErrConflict of deleting an image that something still names.
type ImageInUseError struct {
	Image string
	Users []ImageUser
}

func (e *ImageInUseError) Error() string {
	names := make([]string, len(e.Users))
	for i, u := range e.Users {
		names[i] = u.String()
	}
	return "image " + e.Image + " is in use by " + strings.Join(names, ", ")
}

func (e *ImageInUseError) Unwrap() error { return ErrConflict }

// ImageName returns the image name of a route's Image (or an image's Base) that names
// one ("@name" gives "name", true), else "", false.
func ImageName(ref string) (string, bool) {
	if name, ok := strings.CutPrefix(ref, ImageRefPrefix); ok {
		return name, true
	}
	return "", false
}

// ImageMissing is the error of a route write whose Image names ("@name") an image that
// does not exist: the ValidationError of field "image". Route writes check it inside the
// write, so that a route never names a missing image (which another owner could later
// create under that name and have the route run).
func ImageMissing(ref string) error {
	return Invalid("image", "image %s does not exist", ref)
}

// ApplyDefaults fills the fields left at their zero value with the documented defaults.
func (img *Image) ApplyDefaults() {
	if img.Kind == "" {
		img.Kind = ImageKindFunction
	}
	if img.Source == ImageSourceBuild {
		if img.Network == "" {
			img.Network = NetworkNone
		}
		if img.Dockerfile == "" {
			img.Dockerfile = "Dockerfile"
		}
	}
}

// Validate checks an image whose defaults have been applied.
func (img *Image) Validate() error {
	if !ValidImageName(img.Name) {
		return Invalid("name", "image name %q must match %s and be at most %d bytes", img.Name, imageNameRE, MaxImageNameLen)
	}
	if img.Kind != ImageKindFunction && img.Kind != ImageKindBase {
		return Invalid("kind", "kind must be %s or %s", ImageKindFunction, ImageKindBase)
	}
	switch img.Source {
	case ImageSourceReference:
		if strings.TrimSpace(img.Reference) == "" {
			return Invalid("reference", "reference is required for source %s", ImageSourceReference)
		}
		if len(img.Reference) > 512 || strings.ContainsAny(img.Reference, " \t\r\n") || strings.HasPrefix(img.Reference, ImageRefPrefix) {
			return Invalid("reference", "reference %q is not a Docker image reference", img.Reference)
		}
	case ImageSourceBuild:
		if img.Network != NetworkNone && img.Network != NetworkBridge {
			return Invalid("network", "network must be %s or %s", NetworkNone, NetworkBridge)
		}
		if err := validateDockerfilePath(img.Dockerfile); err != nil {
			return err
		}
	case ImageSourceLoad:
	default:
		return Invalid("source", "source must be %s, %s or %s", ImageSourceReference, ImageSourceBuild, ImageSourceLoad)
	}
	if img.Base != "" {
		name, ok := ImageName(img.Base)
		if !ok || !ValidImageName(name) {
			return Invalid("base", "base %q must be @NAME, an image's name", img.Base)
		}
		if img.Source != ImageSourceBuild {
			return Invalid("base", "only a build has a base")
		}
		if name == img.Name {
			return Invalid("base", "an image cannot be its own base")
		}
	}
	return nil
}

// validateDockerfilePath checks a Dockerfile's path inside a build context: relative,
// not climbing out of it.
func validateDockerfilePath(p string) error {
	switch {
	case p == "" || len(p) > 255:
		return Invalid("dockerfile", "dockerfile must be a path of 1 to 255 bytes")
	case strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00"):
		return Invalid("dockerfile", "dockerfile %q must be a relative path in the context", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return Invalid("dockerfile", "dockerfile %q must not climb out of the context", p)
		}
	}
	return nil
}
