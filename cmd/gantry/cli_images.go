package main

// This file holds `gantry images`: images Gantry manages (pulled from a reference, built
// from an uploaded context, or loaded from a `docker save` tarball) that routes run as
// "@NAME".

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantry-dev/gantry/gen/client/images"
	"github.com/gantry-dev/gantry/gen/models"
)

// newImagesCmd builds `gantry images` and its subcommands.
func newImagesCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "images",
		Aliases: []string{"image"},
		Short:   "Manage images: build, load or pull them, and run them in routes as @NAME",
		Long: "Images Gantry manages: upload a build context (a directory, or a tar or tar.gz with a\n" +
			"Dockerfile) or a `docker save` tarball, or pull a Docker reference. The work runs in the\n" +
			"background on the server's node; a route runs the image as `--image @NAME`.",
	}
	cmd.AddCommand(
		newImagesListCmd(cf),
		newImageGetCmd(cf),
		newImageCreateCmd(cf),
		newImageUploadCmd(cf),
		newImageLogCmd(cf),
		newImageDeleteCmd(cf),
		newImagesPruneCmd(cf),
	)
	return cmd
}

func newImagesListCmd(cf *clientFlags) *cobra.Command {
	var (
		pf          pageFlags
		owner, kind string
	)
	cmd := &cobra.Command{
		Use:     "list [--owner NAME|me] [--kind base|function]",
		Aliases: []string{"ls"},
		Short:   "List images in name order",
		Long: "List images in name order: a developer's own images, or for an admin all of them.\n" +
			"--owner keeps one owner's images; --owner me keeps the caller's. --kind keeps one kind.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			fetch := func(ctx context.Context, cursor string, perPage int64) ([]*models.Image, string, error) {
				params := images.NewListImagesParams().WithPerPage(&perPage)
				if owner != "" {
					params.SetOwner(&owner)
				}
				if kind != "" {
					params.SetKind(&kind)
				}
				if cursor != "" {
					params.SetCursor(&cursor)
				}
				res, err := s.api.Images.ListImagesContext(ctx, params, nil)
				if err != nil {
					return nil, "", clientError("list images", err)
				}
				return res.GetPayload().Images, res.GetPayload().NextCursor, nil
			}
			return runList(cmd, s, pf, "images", fetch, func(items []*models.Image, next string) error {
				return s.out.show(&models.ImagesWrapper{Images: items, NextCursor: next}, func(w io.Writer) error {
					t := table{header: []string{"NAME", "KIND", "SOURCE", "STATUS", "DIGEST", "SIZE", "UPDATED", "OWNER"}}
					for _, img := range items {
						t.rows = append(t.rows, []string{img.Name, img.Kind, img.Source, img.Status, shortDigest(img.Digest), formatSize(img.Size), formatTime(img.UpdatedAt), img.Owner})
					}
					return writeTable(w, t)
				})
			})
		},
	}
	addPageFlags(cmd, &pf)
	cmd.Flags().StringVar(&owner, ownerFlag, "", `only the images of this owner; "me" for the caller's`)
	cmd.Flags().StringVar(&kind, "kind", "", "only images of this kind: base or function")
	return cmd
}

func newImageGetCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show an image, with its status, digest and size",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			w, err := s.getImage(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return s.showImage(w)
		},
	}
}

// getImage reads image name.
func (s *session) getImage(ctx context.Context, name string) (*models.ImageWrapper, error) {
	res, err := s.api.Images.GetImageContext(ctx, images.NewGetImageParams().WithName(name), nil)
	if err != nil {
		return nil, clientError(fmt.Sprintf("get image %q", name), err)
	}
	if p := res.GetPayload(); p != nil && p.Image != nil {
		return p, nil
	}
	return nil, errors.New("the server's answer has no image")
}

func newImageCreateCmd(cf *clientFlags) *cobra.Command {
	var (
		reference, kind string
		wait            bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME --reference REF [--kind base|function] [--wait]",
		Short: "Create an image from a Docker reference, pulled by the server's node",
		Long: "Create an image from a Docker reference: the server's node pulls it in the background\n" +
			"(a reference already on its Docker daemon is used as it is). --wait follows the log\n" +
			"until the image is READY or ERROR. Builds and loads use `gantry images upload`.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			m := &models.Image{Name: args[0], Source: "reference", Reference: reference, Kind: kind}
			res, err := s.api.Images.CreateImageContext(cmd.Context(), images.NewCreateImageParams().WithBody(&models.ImageWrapper{Image: m}), nil)
			if err != nil {
				return clientError(fmt.Sprintf("create image %q", args[0]), err)
			}
			if wait {
				return s.waitImage(cmd.Context(), args[0])
			}
			return s.showImage(res.GetPayload())
		},
	}
	cmd.Flags().StringVar(&reference, "reference", "", "the Docker reference to pull, e.g. alpine:3.20")
	cmd.Flags().StringVar(&kind, "kind", "", "function (default: routes run it) or base (other images build on it)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the log (on stderr) until the image is READY or ERROR")
	_ = cmd.MarkFlagRequired("reference") // only fails for an unknown flag name
	return cmd
}

// uploadFlags are the flags of `images upload`.
type uploadFlags struct {
	source, kind, base, network, dockerfile string
	wait                                    bool
}

func newImageUploadCmd(cf *clientFlags) *cobra.Command {
	var uf uploadFlags
	cmd := &cobra.Command{
		Use:   "upload NAME PATH [--source build|load] [--kind base|function] [--base @IMAGE] [--network none|bridge] [--dockerfile PATH] [--wait]",
		Short: "Build an image from a context (a directory, tar or tar.gz), or load a `docker save` tarball",
		Long: "Upload PATH and build (or, with --source load, load) the image NAME on the server's node.\n" +
			"PATH is a directory (sent as a tar, streamed as it is read), or a tar or tar.gz file. A new\n" +
			"NAME creates the image; one of yours gets a new build, its routes running the last good\n" +
			"digest until the build is READY. --base @IMAGE passes that image's reference as the build\n" +
			"argument BASE_IMAGE (`ARG BASE_IMAGE` then `FROM ${BASE_IMAGE}`). Builds have no network\n" +
			"unless --network bridge. --wait follows the build log (on stderr) until the image is READY\n" +
			"or ERROR, and fails on ERROR.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			w, err := s.uploadImage(cmd.Context(), args[0], args[1], uf)
			if err != nil {
				return err
			}
			if uf.wait {
				return s.waitImage(cmd.Context(), args[0])
			}
			return s.showImage(w)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&uf.source, "source", "", "build (default: a build context with a Dockerfile) or load (a `docker save` tarball)")
	fs.StringVar(&uf.kind, "kind", "", "function (default) or base")
	fs.StringVar(&uf.base, "base", "", "a build's base image, @NAME, passed as the build argument BASE_IMAGE")
	fs.StringVar(&uf.network, "network", "", "the network of the build's RUN steps: none (default) or bridge")
	fs.StringVar(&uf.dockerfile, "dockerfile", "", "the Dockerfile's path in the context (default Dockerfile)")
	fs.BoolVar(&uf.wait, "wait", false, "follow the log (on stderr) until the image is READY or ERROR; fail on ERROR")
	return cmd
}

// uploadImage sends PATH (a directory, tarred as it is read, or a tar or tar.gz file) as
// image name's upload. It is a plain request rather than the generated client's, so that a
// file goes with its Content-Length (a server whose limit it passes answers at once) and a
// directory streams.
func (s *session) uploadImage(ctx context.Context, name, path string, uf uploadFlags) (*models.ImageWrapper, error) {
	op := fmt.Sprintf("upload image %q", name)
	body, size, err := openUpload(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer body.Close()
	q := url.Values{}
	for k, v := range map[string]string{"source": uf.source, "kind": uf.kind, "base": uf.base, "network": uf.network, "dockerfile": uf.dockerfile} {
		if v != "" {
			q.Set(k, v)
		}
	}
	p := "/images/" + url.PathEscape(name)
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	req, err := s.raw.newRequest(ctx, http.MethodPut, p)
	if err != nil {
		return nil, err
	}
	req.Body, req.ContentLength = body, size
	if size == 0 { // unknown: chunked (an empty file is refused by the server as not a tar)
		req.ContentLength = -1
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Accept", "application/json")
	res, err := s.raw.client.Do(req)
	var tarErr *tarDirError
	switch {
	case errors.As(err, &tarErr):
		return nil, fmt.Errorf("%s: %w", op, tarErr)
	case err != nil:
		return nil, fmt.Errorf("%s: cannot reach the Gantry API at %s: %w", op, req.URL.Redacted(), errors.Unwrap(err))
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		return nil, rawError(op, res)
	}
	var w models.ImageWrapper
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&w); err != nil || w.Image == nil {
		return nil, fmt.Errorf("%s: the server's answer is not an image: %v", op, err)
	}
	return &w, nil
}

// waitImage follows image name's log on stderr until it is final, then shows it; an image
// that ends ERROR is an error.
func (s *session) waitImage(ctx context.Context, name string) error {
	if err := s.followImageLog(ctx, name, s.stderr); err != nil {
		return err
	}
	w, err := s.getImage(ctx, name)
	for err == nil && w.Image.Status == "CREATING" { // the stream ended early (the server stopped?)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		w, err = s.getImage(ctx, name)
	}
	if err != nil {
		return err
	}
	if err := s.showImage(w); err != nil {
		return err
	}
	if w.Image.Status == "ERROR" {
		return fmt.Errorf("image %q: %s", name, w.Image.Error)
	}
	return nil
}

func newImageLogCmd(cf *clientFlags) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:     "log NAME [--follow]",
		Aliases: []string{"logs"},
		Short:   "Print the log of an image's last build, load or pull, whatever --output says",
		Long: "Print the log of an image's last build, load or pull, as the Docker daemon wrote it.\n" +
			"--follow streams it while the image is CREATING, until it is READY or ERROR.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			if follow {
				return s.followImageLog(cmd.Context(), args[0], s.out.w)
			}
			res, err := s.api.Images.GetImageLogContext(cmd.Context(), images.NewGetImageLogParams().WithName(args[0]), nil)
			if err != nil {
				return clientError(fmt.Sprintf("get the log of image %q", args[0]), err)
			}
			if _, err := io.WriteString(s.out.w, res.GetPayload()); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "stream the log until the image is READY or ERROR")
	return cmd
}

// followImageLog copies the streamed log of image name (?follow=true) to w as it comes.
// The generated client would read it whole before answering.
func (s *session) followImageLog(ctx context.Context, name string, w io.Writer) error {
	op := fmt.Sprintf("follow the log of image %q", name)
	req, err := s.raw.newRequest(ctx, http.MethodGet, "/images/"+url.PathEscape(name)+"/log?follow=true")
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/plain")
	res, err := s.raw.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: cannot reach the Gantry API at %s: %w", op, req.URL.Redacted(), errors.Unwrap(err))
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return rawError(op, res)
	}
	if _, err := io.Copy(w, res.Body); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

func newImageDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete an image and its Docker image (refused while a route or another image uses it)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			if _, err := s.api.Images.DeleteImageContext(cmd.Context(), images.NewDeleteImageParams().WithName(args[0]), nil); err != nil {
				return clientError(fmt.Sprintf("delete image %q", args[0]), err)
			}
			return s.out.confirm("image %q deleted", args[0])
		},
	}
}

func newImagesPruneCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "prune",
		Short: "Delete every image nothing uses, with its Docker image (admins only)",
		Long: "Delete every image that no route names as @NAME, that no other image has as its base,\n" +
			"and that is not CREATING; print the names of those deleted.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cf.session(cmd)
			if err != nil {
				return err
			}
			res, err := s.api.Images.PruneImagesContext(cmd.Context(), images.NewPruneImagesParams(), nil)
			if err != nil {
				return clientError("prune images", err)
			}
			p := res.GetPayload()
			return s.out.show(p, func(w io.Writer) error {
				if len(p.Pruned) == 0 {
					_, err := fmt.Fprintln(w, "no image pruned")
					return err
				}
				for _, n := range p.Pruned {
					if _, err := fmt.Fprintf(w, "image %q deleted\n", n); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}

// showImage prints an image (the wrapper with -o json).
func (s *session) showImage(p *models.ImageWrapper) error {
	return s.out.show(p, func(w io.Writer) error {
		img := p.Image
		fields := []field{
			{"Name", img.Name}, {"ID", img.ID}, {"Owner", img.Owner}, {"Kind", img.Kind}, {"Source", img.Source},
		}
		if img.Reference != "" {
			fields = append(fields, field{"Reference", img.Reference})
		}
		if img.Source == "build" {
			fields = append(fields, field{"Base", img.Base}, field{"Network", img.Network}, field{"Dockerfile", img.Dockerfile})
		}
		fields = append(fields, field{"Status", img.Status})
		if img.Error != "" {
			fields = append(fields, field{"Error", img.Error})
		}
		fields = append(fields,
			field{"Digest", img.Digest}, field{"Size", formatSize(img.Size)}, field{"Tag", img.Tag},
			field{"Built", formatTime(img.BuiltAt)}, field{"Created", formatTime(img.CreatedAt)}, field{"Updated", formatTime(img.UpdatedAt)},
		)
		return writeFields(w, fields)
	})
}

// shortDigest is the first 12 hex digits of a digest, as `docker images` shows IDs.
func shortDigest(d string) string {
	hex := strings.TrimPrefix(d, "sha256:")
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

// formatSize shows a size in bytes in the largest binary unit that keeps it readable.
func formatSize(n int64) string {
	switch {
	case n <= 0:
		return "-"
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + "GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + "MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + "KiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}

// openUpload opens what `images upload` sends: a regular file as it is, with its size, or
// a directory as a tar made as it is read (size 0: unknown).
func openUpload(path string) (io.ReadCloser, int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if fi.IsDir() {
		return tarDir(path), 0, nil
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is neither a directory nor a file", path)
	}
	f, err := os.Open(path) //nolint:gosec // G304: the file the user named
	if err != nil {
		return nil, 0, err
	}
	return f, fi.Size(), nil
}
