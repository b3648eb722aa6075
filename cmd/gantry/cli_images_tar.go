package main

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// tarDir returns a tar of the directory dir, written as it is read (never held whole in
// memory or on disk): its files, directories and symbolic links under paths relative to
// dir, owned by root. A file of another kind (a socket, a device) fails the stream, and so
// does any error reading dir.
func tarDir(dir string) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(dir, path)
			if err != nil || rel == "." {
				return err
			}
			return addToTar(tw, path, filepath.ToSlash(rel), d)
		})
		if err == nil {
			err = tw.Close()
		} else {
			err = &tarDirError{dir: dir, err: err}
		}
		pw.CloseWithError(err) // nil: the reader sees io.EOF
	}()
	return pr
}

// tarDirError is a failure to read the directory tarDir sends: the request carrying it
// fails with it, which is no failure to reach the server.
type tarDirError struct {
	dir string
	err error
}

func (e *tarDirError) Error() string { return "reading " + e.dir + ": " + e.err.Error() }
func (e *tarDirError) Unwrap() error { return e.err }

// addToTar writes one entry of tarDir: its header, and a regular file's bytes.
func addToTar(tw *tar.Writer, path, name string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	link := ""
	switch mode := info.Mode(); {
	case mode.IsRegular(), mode.IsDir():
	case mode&fs.ModeSymlink != 0:
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s: %s is not a file, a directory or a link: it cannot be sent", path, mode.Type())
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	hdr.Name = name
	if info.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(path) //nolint:gosec // G304: a file of the directory the user named
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
