package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/middleware"

	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/gen/restapi/operations/images"
	"github.com/gantry-dev/gantry/httperr"
	"github.com/gantry-dev/gantry/store"
)

// Images is what the API needs of the images service (images.Service): the writes of
// images, whose work (pulls, builds, loads) runs in the background on this node, and their
// logs. Reads of images go to the store.
type Images interface {
	// Create stores a source-reference image owned by img.Owner (CREATING) and queues its pull.
	Create(ctx context.Context, img store.Image) (store.Image, error)
	// Upload streams body to disk, checks it, and creates the image or starts a new build
	// of the existing one when guard passes; visible tells which images may be its base.
	Upload(ctx context.Context, img store.Image, body io.Reader, guard store.AppGuard, visible func(store.Image) bool) (store.Image, bool, error)
	// Delete removes an image (guard first) and its Docker images.
	Delete(ctx context.Context, name string, guard store.AppGuard) error
	// Prune deletes every image nothing uses and that is not CREATING; it returns their names.
	Prune(ctx context.Context) ([]string, error)
	// WriteLog writes an image's log to w; with follow, keeps writing (calling flush after
	// each write) until the image is final or ctx ends.
	WriteLog(ctx context.Context, name string, follow bool, w io.Writer, flush func()) error
}

// errNoImages answers what needs the images service on a server without one.
func errNoImages() *httperr.Error {
	return &httperr.Error{Status: http.StatusServiceUnavailable, Message: "this server manages no images", Header: httperr.RetryAfter(60)}
}

// ListImages answers one page of images in name order: a developer's own, or for an admin
// all of them or one owner's.
func (a *API) ListImages(ctx context.Context, params images.ListImagesParams) middleware.Responder {
	owner, err := ownerFilter(caller(ctx), params.Owner, "images")
	if err != nil {
		return a.errorResponse(err)
	}
	f := store.ImageFilter{}
	if params.Kind != nil {
		f.Kind = *params.Kind
	}
	if owner != "" {
		f.Visible = func(img store.Image) bool { return img.Owner == owner }
	}
	list, next, err := a.store.ListImages(ctx, f, page(params.PerPage, params.Cursor))
	if err != nil {
		return a.errorResponse(err)
	}
	out := &models.ImagesWrapper{Images: make([]*models.Image, 0, len(list)), NextCursor: next}
	for _, img := range list {
		out.Images = append(out.Images, imageToModel(img))
	}
	return images.NewListImagesOK().WithPayload(out)
}

// CreateImage stores an image of a Docker reference, owned by the caller, and queues its
// pull: 202 with the image CREATING.
func (a *API) CreateImage(ctx context.Context, params images.CreateImageParams) middleware.Responder {
	in := params.Body.Image
	who := caller(ctx)
	switch {
	case in == nil:
		return a.badRequest("image", "image is required")
	case in.Name == "":
		return a.badRequest("image.name", "image.name is required")
	case in.Source != "" && in.Source != store.ImageSourceReference:
		return a.badRequest("image.source", "image.source must be %s here: builds and loads upload their tarball with PUT /v1/images/%s", store.ImageSourceReference, in.Name)
	case in.Reference == "":
		return a.badRequest("image.reference", "image.reference is required: the Docker reference to pull, e.g. alpine:3.20")
	case in.Owner != "" && in.Owner != who.Name:
		return a.badRequest("image.owner", "image.owner is read-only: an image is owned by whoever creates it")
	case in.Network != "":
		return a.badRequest("image.network", "image.network is a build's: upload a build context with PUT /v1/images/%s", in.Name)
	case in.Dockerfile != "":
		return a.badRequest("image.dockerfile", "image.dockerfile is a build's: upload a build context with PUT /v1/images/%s", in.Name)
	case a.images == nil:
		return responder(errNoImages())
	}
	img := store.Image{Name: in.Name, Owner: who.Name, Kind: in.Kind, Source: store.ImageSourceReference, Reference: in.Reference, Base: in.Base}
	created, err := a.images.Create(ctx, img)
	if err != nil {
		return a.errorResponse(withFieldPrefix("image", err))
	}
	return images.NewCreateImageAccepted().WithPayload(&models.ImageWrapper{Image: imageToModel(created)})
}

// GetImage answers one image the caller may see.
func (a *API) GetImage(ctx context.Context, params images.GetImageParams) middleware.Responder {
	img, err := a.image(ctx, params.Name)
	if err != nil {
		return a.errorResponse(err)
	}
	return images.NewGetImageOK().WithPayload(&models.ImageWrapper{Image: imageToModel(img)})
}

// UploadImage creates an image from the uploaded tarball, owned by the caller, or starts a
// new build of the caller's image: 202 with the image CREATING. The body reaches here
// unread and bounded by the images service's upload limit only (imageUploads).
func (a *API) UploadImage(ctx context.Context, params images.UploadImageParams) middleware.Responder {
	if a.images == nil {
		return responder(errNoImages())
	}
	who := caller(ctx)
	img := store.Image{Name: params.Name, Owner: who.Name, Source: deref(params.Source), Kind: deref(params.Kind),
		Base: deref(params.Base), Network: deref(params.Network), Dockerfile: deref(params.Dockerfile)}
	if img.Source == store.ImageSourceLoad { // the spec's defaults of a build's fields: not a load's
		img.Network, img.Dockerfile = "", ""
	}
	if !params.HTTPRequest.URL.Query().Has("kind") { // a new build keeps the image's kind; a new image gets the default
		img.Kind = ""
	}
	taken := store.Errorf(store.ErrConflict, "image %q is taken: another owner has it", params.Name)
	visible := func(i store.Image) bool { return mayUse(who, i.Owner) }
	out, _, err := a.images.Upload(ctx, img, params.Context, ownerGuard(ctx, taken), visible)
	if err != nil {
		return a.errorResponse(err)
	}
	return images.NewUploadImageAccepted().WithPayload(&models.ImageWrapper{Image: imageToModel(out)})
}

// DeleteImage deletes an image of the caller's and its Docker image; 409 while something
// uses it or a build of it runs.
func (a *API) DeleteImage(ctx context.Context, params images.DeleteImageParams) middleware.Responder {
	if a.images == nil {
		return responder(errNoImages())
	}
	if err := a.images.Delete(ctx, params.Name, imageGuard(ctx, params.Name)); err != nil {
		return a.errorResponse(err)
	}
	return images.NewDeleteImageNoContent()
}

// PruneImages deletes every image nothing uses (admins only) and names them.
func (a *API) PruneImages(ctx context.Context, _ images.PruneImagesParams) middleware.Responder {
	if err := requireAdmin(ctx, "pruning images"); err != nil {
		return a.errorResponse(err)
	}
	if a.images == nil {
		return responder(errNoImages())
	}
	names, err := a.images.Prune(ctx)
	if err != nil {
		return a.errorResponse(err)
	}
	if names == nil {
		names = []string{}
	}
	return images.NewPruneImagesOK().WithPayload(&models.PrunedImages{Pruned: names})
}

// GetImageLog answers the log of an image's last build, load or pull as plain text; with
// follow, streams it while the image is CREATING (the answer's head at once, then the log
// flushed as it comes) until it is final, the client goes away or the server stops
// (EndStreams). An error before the answer started is answered as JSON through the one
// mapping.
func (a *API) GetImageLog(ctx context.Context, params images.GetImageLogParams) middleware.Responder {
	if _, err := a.image(ctx, params.Name); err != nil {
		return a.errorResponse(err)
	}
	follow := params.Follow != nil && *params.Follow
	if a.images == nil {
		if follow {
			return responder(errNoImages())
		}
		log, err := a.store.GetImageLog(ctx, params.Name)
		if err != nil {
			return a.errorResponse(err)
		}
		return middleware.ResponderFunc(func(w http.ResponseWriter, _ runtime.Producer) {
			w.Header().Set("Content-Type", textPlain)
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(log)
		})
	}
	return middleware.ResponderFunc(func(w http.ResponseWriter, _ runtime.Producer) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-a.streamsEnd:
				cancel()
			case <-ctx.Done():
			}
		}()
		lw := &lazyTextWriter{w: w, rc: http.NewResponseController(w)}
		if follow { // the client learns at once that it follows, however long the first line takes
			lw.flush()
		}
		err := a.images.WriteLog(ctx, params.Name, follow, lw, lw.flush)
		switch {
		case err != nil && !lw.started:
			a.WriteError(w, err)
		case err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled):
			a.log.Debug("image log stream ended early", "image", params.Name, "err", err)
		case !lw.started:
			lw.start()
		}
	})
}

const textPlain = "text/plain; charset=utf-8"

// lazyTextWriter answers 200 text/plain at its first write or flush, so that an error
// before any byte can still be answered as an error.
type lazyTextWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func (l *lazyTextWriter) start() {
	if l.started {
		return
	}
	l.started = true
	h := l.w.Header()
	h.Set("Content-Type", textPlain)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // a proxy in front must not hold the lines back
	l.w.WriteHeader(http.StatusOK)
}

func (l *lazyTextWriter) Write(p []byte) (int, error) {
	l.start()
	return l.w.Write(p)
}

func (l *lazyTextWriter) flush() {
	l.start()
	_ = l.rc.Flush()
}

// image reads an image the caller may see; another's is not found.
func (a *API) image(ctx context.Context, name string) (store.Image, error) {
	img, err := a.store.GetImage(ctx, name)
	if err == nil {
		err = imageGuard(ctx, name)(img.Owner)
	}
	return img, err
}

// imageGuard is the ownership check of an image.
func imageGuard(ctx context.Context, name string) store.AppGuard {
	return ownerGuard(ctx, store.NotFound("image", name))
}

// checkRouteImage checks a route's image that names an image Gantry manages ("@NAME"): it
// must exist and be visible to the caller writing the route (its own, or any for an
// admin), else 400 naming route.image. A plain Docker reference passes.
func (a *API) checkRouteImage(ctx context.Context, ref string) error {
	name, ok := store.ImageName(ref)
	if !ok {
		return nil
	}
	img, err := a.store.GetImage(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound), err == nil && !mayUse(caller(ctx), img.Owner):
		return errInvalidField("route.image", fmt.Sprintf("route.image %q names no image of yours: create it first (gantry images upload %s DIR)", ref, name))
	case err != nil:
		return err
	}
	return nil
}

// imageUploadPrefix is the path of PUT /v1/images/{name} up to the name.
const imageUploadPrefix = "/v1/images/"

// isImageUpload tells whether r is an image upload (PUT /v1/images/{name}).
func isImageUpload(r *http.Request) bool {
	name, ok := strings.CutPrefix(r.URL.Path, imageUploadPrefix)
	return ok && r.Method == http.MethodPut && name != "" && !strings.Contains(name, "/")
}

// imageUploads sends image uploads (PUT /v1/images/{name}) to upload, past the management
// API's body limit and JSON-only check that next applies: their body is a tarball,
// application/octet-stream (or sent without Content-Type), bounded by max (the images
// service's MaxUpload, which the service enforces as it streams; a Content-Length over it
// is answered 413 here at once, before a byte is read). Anything else goes to next.
func imageUploads(max int64, upload, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isImageUpload(r) {
			next.ServeHTTP(w, r)
			return
		}
		if max > 0 && r.ContentLength > max {
			httperr.Write(w, httperr.BodyTooLarge(max))
			return
		}
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			r.Header.Set("Content-Type", runtime.DefaultMime)
		} else if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != runtime.DefaultMime {
			httperr.Write(w, &httperr.Error{Status: http.StatusUnsupportedMediaType, Message: fmt.Sprintf("unsupported media type %q: send %s (a tar or tar.gz)", ct, runtime.DefaultMime), Fields: "Content-Type"})
			return
		}
		upload.ServeHTTP(w, r)
	})
}
