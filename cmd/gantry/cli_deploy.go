package main

// This file holds `gantry deploy [DIR]`: build the function of DIR/func.yaml on the server
// (its image is the function's name), wait for the build while showing its log, then
// create the app if it is missing and create or replace the route to run `@NAME`.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client"
	"github.com/gantry-dev/gantry/gen/client/apps"
	"github.com/gantry-dev/gantry/gen/client/images"
	"github.com/gantry-dev/gantry/gen/client/routes"
	"github.com/gantry-dev/gantry/gen/models"
)

// Image statuses (swagger: Image.status).
const (
	imageCreating = "CREATING"
	imageReady    = "READY"
	imageError    = "ERROR"
)

// errUploadEnded ends the writing of a build context whose upload got its answer.
var errUploadEnded = errors.New("the upload ended")

// deployResult is what `deploy -o json` prints.
type deployResult struct {
	Image *models.Image `json:"image"`
	Route *models.Route `json:"route"`
	App   string        `json:"app"`
	URL   string        `json:"url"`
}

func newDeployCmd(cf *clientFlags) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "deploy [DIR]",
		Short: "Build the function in DIR (default .) as its func.yaml says, and route its app and path to it",
		Long: "Build the function in DIR (default .) as its func.yaml says, and route its app and path to it.\n\n" +
			"With build: {runtime: go} the function is compiled here with the local Go toolchain\n" +
			"(CGO_ENABLED=0 GOOS=linux) and packed FROM scratch (FROM the base image with build.base);\n" +
			"with build: {dockerfile: PATH} DIR is the build context (.git and what .dockerignore names\n" +
			"are left out). The context is uploaded as the image named after the function, built by the\n" +
			"server (its log is shown as it comes), and once it is READY the app is created if missing\n" +
			"and the route is created or replaced with image @NAME and func.yaml's fields (without\n" +
			"auth in func.yaml, the route keeps its auth: a redeploy never makes a token route public).\n" +
			"Deploying again builds again; the route's hot containers move to the new image.\n\n" +
			"Progress goes to stderr; the result, with the URL to call, to stdout.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			f, err := readFuncFile(dir)
			if err != nil {
				return err
			}
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			return s.deploy(cmd.Context(), dir, f, wait)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 15*time.Minute, "how long to wait for the image's build")
	return cmd
}

// deploy builds and routes the function f of dir.
func (s *session) deploy(ctx context.Context, dir string, f *funcFile, wait time.Duration) error {
	progress := s.stderr
	img, err := s.uploadFunction(ctx, dir, f, progress)
	if err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if img.Status == imageCreating {
		if err := s.followImageLog(waitCtx, f.Name, progress); err != nil { // cli_images.go
			fmt.Fprintf(progress, "(the build log could not be followed: %v; waiting for the build)\n", err)
		}
		if img, err = s.awaitImage(waitCtx, f.Name); err != nil {
			return err
		}
	}
	fmt.Fprintf(progress, "Image %s: %s %s\n", f.Name, img.Status, img.Digest)
	if img.Status != imageReady {
		return fmt.Errorf("the build of image %s failed: %s", f.Name, orDash(strings.TrimSpace(img.Error)))
	}

	if err := s.ensureApp(ctx, f.App); err != nil {
		return err
	}
	route, created, err := s.putFunctionRoute(ctx, f)
	if err != nil {
		return err
	}
	res := deployResult{Image: img, Route: route, App: f.App, URL: s.callURL(f.App, route.Path)}
	return s.out.show(res, func(w io.Writer) error {
		verb := "updated"
		if created {
			verb = "created"
		}
		return writeFields(w, []field{
			{"Image", "@" + img.Name + " " + img.Digest},
			{"Route", fmt.Sprintf("%s %s (%s)", f.App, route.Path, verb)},
			{"Format", orDash(route.Format)},
			{"URL", res.URL},
		})
	})
}

// uploadFunction makes the build context of f and uploads it as the image f.Name. The
// context is streamed: for runtime go, the binary is compiled first into a temporary
// directory removed on return.
func (s *session) uploadFunction(ctx context.Context, dir string, f *funcFile, progress io.Writer) (*models.Image, error) {
	var write func(io.Writer) error
	var dockerfile string
	switch f.Build.Runtime {
	case runtimeGo:
		tmp, err := os.MkdirTemp("", "gantry-deploy-")
		if err != nil {
			return nil, fmt.Errorf("deploy %s: %w", f.Name, err)
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		bin := filepath.Join(tmp, goBinaryName)
		fmt.Fprintf(progress, "Compiling %s with the local Go toolchain (GOOS=linux CGO_ENABLED=0)\n", dir)
		if err := compileGo(ctx, dir, bin, progress); err != nil {
			return nil, err
		}
		write = func(w io.Writer) error { return writeGoContext(w, bin, f.Build.Base != "") }
		dockerfile = "Dockerfile"
	default:
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.Build.Dockerfile))); err != nil {
			return nil, fmt.Errorf("deploy %s: build.dockerfile: %w", f.Name, err)
		}
		write = func(w io.Writer) error { return writeDirContext(w, dir, f.Build.Dockerfile) }
		dockerfile = f.Build.Dockerfile
	}

	pr, pw := io.Pipe()
	wrote := make(chan error, 1)
	go func() {
		err := write(pw)
		_ = pw.CloseWithError(err) // nil: EOF
		wrote <- err
	}()
	params := images.NewUploadImageParams().WithName(f.Name).WithContext(pr).
		WithKind(ptrTo("function")).WithDockerfile(&dockerfile).WithTimeout(0)
	if f.Build.Base != "" {
		params.SetBase(&f.Build.Base)
	}
	if f.Build.Network != "" {
		params.SetNetwork(&f.Build.Network)
	}
	fmt.Fprintf(progress, "Uploading the build context of image %s\n", f.Name)
	res, err := s.api.Images.UploadImageContext(ctx, params, nil)
	_ = pr.CloseWithError(errUploadEnded) // unblocks the writer when the server answered early
	werr := <-wrote
	if err != nil {
		var answered *apiError
		if cerr := clientError(fmt.Sprintf("upload the build context of image %s", f.Name), err); errors.As(cerr, &answered) ||
			werr == nil || errors.Is(werr, errUploadEnded) || errors.Is(werr, io.ErrClosedPipe) {
			return nil, cerr // the server's answer, or a failure to send
		}
		return nil, fmt.Errorf("deploy %s: %w", f.Name, werr) // making the context failed
	}
	w := res.GetPayload()
	if w == nil || w.Image == nil {
		return nil, errors.New("the server's answer has no image")
	}
	return w.Image, nil
}

// awaitImage polls image name until it is no longer CREATING or ctx ends.
func (s *session) awaitImage(ctx context.Context, name string) (*models.Image, error) {
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := s.api.Images.GetImageContext(ctx, images.NewGetImageParams().WithName(name), nil)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("image %s is still building: gave up waiting (--wait); see gantry images get %s", name, name)
			}
			return nil, clientError(fmt.Sprintf("get image %s", name), err)
		}
		if w := res.GetPayload(); w != nil && w.Image != nil && w.Image.Status != imageCreating {
			return w.Image, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("image %s is still building: gave up waiting (--wait); see gantry images get %s", name, name)
		case <-tick.C:
		}
	}
}

// ensureApp creates app unless it exists (its config and owner are left as they are).
func (s *session) ensureApp(ctx context.Context, app string) error {
	_, err := s.api.Apps.GetAppContext(ctx, apps.NewGetAppParams().WithApp(app), nil)
	var nf *apps.GetAppNotFound
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &nf):
		return clientError(fmt.Sprintf("get app %q", app), err)
	}
	params := apps.NewCreateAppParams().WithBody(&models.AppWrapper{App: &models.App{Name: app}})
	_, err = s.api.Apps.CreateAppContext(ctx, params, nil)
	var exists *apps.CreateAppConflict
	if err != nil && !errors.As(err, &exists) { // made meanwhile: fine
		return clientError(fmt.Sprintf("create app %q", app), err)
	}
	if err == nil {
		fmt.Fprintf(s.stderr, "App %s created\n", app)
	}
	return nil
}

// putFunctionRoute creates or replaces f's route, running image @NAME; it tells whether it
// was created. A key func.yaml leaves out goes back to the server's default, except auth:
// the route keeps the auth it has (set with `gantry routes update --auth token`, say), so
// that a redeploy never makes a protected route public. func.yaml's `auth: none` does.
func (s *session) putFunctionRoute(ctx context.Context, f *funcFile) (*models.Route, bool, error) {
	route := f.route("@" + f.Name)
	if route.Auth == "" {
		old, err := s.api.Routes.GetRouteContext(ctx, routes.NewGetRouteParams().WithApp(f.App).WithRoute(f.Path), nil)
		var nf *routes.GetRouteNotFound
		switch {
		case err == nil:
			if w := old.GetPayload(); w != nil && w.Route != nil {
				route.Auth = w.Route.Auth
			}
		case !errors.As(err, &nf):
			return nil, false, clientError(fmt.Sprintf("get route %s of app %q", f.Path, f.App), err)
		}
	}
	params := routes.NewPutRouteParams().WithApp(f.App).WithRoute(f.Path).
		WithBody(&models.RouteWrapper{Route: route})
	ok, created, err := s.api.Routes.PutRouteContext(ctx, params, nil)
	if err != nil {
		return nil, false, clientError(fmt.Sprintf("put route %s of app %q", f.Path, f.App), err)
	}
	var w *models.RouteWrapper
	if ok != nil {
		w = ok.GetPayload()
	} else if created != nil {
		w = created.GetPayload()
	}
	if w == nil || w.Route == nil {
		return nil, false, errors.New("the server's answer has no route")
	}
	return w.Route, created != nil, nil
}

// callURL is where the route path of app is called: <server>/r/<app><path>.
func (s *session) callURL(app, path string) string {
	server := strings.TrimSuffix(s.raw.base, client.DefaultBasePath)
	return server + "/r/" + url.PathEscape(app) + path
}
