package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseStore(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want storeSpec
		err  string // a part of the error; "" for none
	}{
		{"no --store is a bolt store in the data dir", "", storeSpec{kind: storeBolt, path: "/srv/data"}, ""},
		{"a relative bolt path is kept", "bolt://./data", storeSpec{kind: storeBolt, path: "./data"}, ""},
		{"an absolute bolt path has three slashes", "bolt:///var/lib/gantry", storeSpec{kind: storeBolt, path: "/var/lib/gantry"}, ""},
		{"a bare bolt directory is relative", "bolt://data", storeSpec{kind: storeBolt, path: "data"}, ""},
		{"the scheme is read in any case", "BOLT://data", storeSpec{kind: storeBolt, path: "data"}, ""},
		{"a postgres URL is kept whole", "postgres://gantry@db.example:5432/gantry?sslmode=verify-full",
			storeSpec{kind: storePostgres, url: "postgres://gantry@db.example:5432/gantry?sslmode=verify-full"}, ""},
		{"a postgresql URL is a postgres store", "postgresql://gantry:s3cret@db/gantry", storeSpec{kind: storePostgres, url: "postgresql://gantry:s3cret@db/gantry"}, ""},
		{"a postgres URL of a socket has no host", "postgres:///gantry?host=/run/postgresql", storeSpec{kind: storePostgres, url: "postgres:///gantry?host=/run/postgresql"}, ""},
		{"a bolt store names a directory", "bolt://", storeSpec{}, "names no directory"},
		{"a bolt store takes no options", "bolt://data?mode=ro", storeSpec{}, "without options"},
		{"a path is not a URL", "./data", storeSpec{}, "is not a store URL"},
		{"an unknown scheme is refused by name", "mysql://root:hunter2@db/gantry", storeSpec{}, `unknown scheme "mysql"`},
		{"a malformed postgres URL is refused", "postgres://gantry:hunter2@db:port/gantry", storeSpec{}, "malformed URL"},
		{"a URL with a control character is refused", "postgres://gantry:hunter2@db/gan\ntry", storeSpec{}, "malformed URL"},
		{"a password with a # is not shown in the parse error", "postgres://gantry:hunter2#x@db/gantry", storeSpec{}, "malformed URL"},
		{"a password with a ? is not shown in the parse error", "postgres://gantry:hun?ter2@db/gantry", storeSpec{}, "malformed URL"},
		{"a password with a / is not shown in the parse error", "postgres://gantry:hun/ter2@db/gantry", storeSpec{}, "malformed URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStore(tt.raw, "/srv/data")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseStore(%q) = %+v, %v; want an error saying %q", tt.raw, got, err, tt.err)
				}
				if msg := err.Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "hun") || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "--store") {
					t.Fatalf("error %q: want one line about --store without the password", msg)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseStore(%q) = %+v, %v; want %+v", tt.raw, got, err, tt.want)
			}
		})
	}
}

func TestRedactStoreURL(t *testing.T) {
	for _, tt := range []struct{ name, raw, want string }{
		{"a URL without a password is unchanged", "postgres://gantry@db:5432/gantry", "postgres://gantry@db:5432/gantry"},
		{"a password is hidden", "postgres://gantry:s3cret@db/gantry", "postgres://gantry:xxxxx@db/gantry"},
		{"a password with an @ is hidden whole", "postgres://gantry:s3@cret@db/gantry", "postgres://gantry:xxxxx@db/gantry"},
		{"a password with a slash is hidden whole", "postgres://gantry:s3/cr?et@db/gantry", "postgres://gantry:xxxxx@db/gantry"},
		{"a password option is hidden", "postgres://db/gantry?sslmode=require&password=s3cret", "postgres://db/gantry?sslmode=require&password=xxxxx"},
		{"a malformed URL's password is hidden", "postgres://gantry:s3cret@db:port/gan%zz", "postgres://gantry:xxxxx@db:port/gan%zz"},
		{"a bolt path is unchanged", "bolt:///var/lib/gantry", "bolt:///var/lib/gantry"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactStoreURL(tt.raw); got != tt.want {
				t.Fatalf("redactStoreURL(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func TestStoreSpecNamesNoPassword(t *testing.T) {
	spec := storeSpec{kind: storePostgres, url: "postgres://gantry:s3cret@db/gantry", password: "other"}
	if s := spec.String(); strings.Contains(s, "s3cret") || strings.Contains(s, "other") {
		t.Fatalf("%q names a password", s)
	}
	if s := (storeSpec{kind: storeBolt, path: "./data"}).String(); s != "bolt://./data" {
		t.Fatalf("bolt store named %q", s)
	}
}

func TestReadStorePassword(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pg := storeSpec{kind: storePostgres, url: "postgres://gantry@db/gantry"}
	tests := []struct {
		name string
		spec storeSpec
		path string
		want string
		err  string
	}{
		{"one trailing newline is dropped", pg, file("nl", "s3cret\n"), "s3cret", ""},
		{"a CRLF is dropped", pg, file("crlf", "s3cret\r\n"), "s3cret", ""},
		{"only one newline is dropped, and spaces stay", pg, file("two", " s3 \n\n"), " s3 \n", ""},
		{"a file without a newline is the password", pg, file("bare", "s3cret"), "s3cret", ""},
		{"no file, no password", pg, "", "", ""},
		{"an empty file is refused", pg, file("empty", "\n"), "", "is empty"},
		{"a missing file is refused", pg, filepath.Join(dir, "missing"), "", "no such file"},
		{"a bolt store takes no password", storeSpec{kind: storeBolt, path: "./data"}, file("b", "x"), "", "is for a postgres store"},
		{"a password in the URL too is refused", storeSpec{kind: storePostgres, url: "postgres://gantry:inurl@db/gantry"}, file("c", "x"), "", "has a password already"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			err := readStorePassword(tt.path, &spec)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "inurl") {
					t.Fatalf("readStorePassword: %v, want an error saying %q (without the password)", err, tt.err)
				}
				return
			}
			if err != nil || spec.password != tt.want {
				t.Fatalf("readStorePassword: %q %v, want %q", spec.password, err, tt.want)
			}
		})
	}
}
