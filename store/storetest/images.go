package storetest

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/store"
)

func imageCases() []testCase {
	return []testCase{
		{
			name: "an image is created once by name with an ID, updated under its guard keeping its name, ID, owner and creation, " +
				"deleted, and every write sends ChangeImage before it returns",
			covers: []string{"CreateImage", "GetImage", "UpdateImage", "DeleteImage", "Subscribe"},
			run:    testImageWrites,
		},
		{
			name:   "images are listed in name order, a page at a time, by kind and visibility, and no cursor leads to an empty page",
			covers: []string{"ListImages", "CreateImage"},
			run:    testListImages,
		},
		{
			name: "an image that a route names or that another image builds on is not deleted: the error names its users, " +
				"and route writes that stop naming it free it",
			covers: []string{"DeleteImage", "ImageUsers", "CreateImage", "CreateRoute", "PutRoute", "UpdateRoute", "DeleteRoute", "UpdateImage"},
			run:    testImageInUse,
		},
		{
			name:   "DeleteImage runs its guard and check inside the write on the stored image and writes nothing when they refuse",
			covers: []string{"DeleteImage", "GetImage", "GetImageLog"},
			run:    testDeleteImageGuardAndCheck,
		},
		{
			name: "an image's log is written only by its current build, keeps its last MaxImageLog bytes, reads empty before, " +
				"and goes with the image",
			covers: []string{"SetImageLog", "GetImageLog", "UpdateImage", "DeleteImage", "CreateImage"},
			run:    testImageLog,
		},
		{
			name:   "the image digest an execution ran is stored by the recorder and by the queue",
			covers: []string{"RecordExecution", "FlushExecutions", "GetExecution", "ListExecutions", "EnqueueTask", "LeaseTasks", "CompleteTask"},
			run:    testExecutionImageDigest,
		},
	}
}

func newImage(name, owner string) store.Image {
	return store.Image{Name: name, Owner: owner, Source: store.ImageSourceBuild, Status: store.ImageCreating, Build: "b1", Node: "n1"}
}

// mustImage creates an image of owner, of kind kind, with base base ("" for none).
func mustImage(t *testing.T, s store.Store, name, owner, kind, base string) store.Image {
	t.Helper()
	img := newImage(name, owner)
	img.Kind, img.Base = kind, base
	created, err := s.CreateImage(t.Context(), img)
	if err != nil {
		t.Fatalf("create image %s: %v", name, err)
	}
	return created
}

// sameImage tells whether a and b hold the same image, their times the same instants.
func sameImage(a, b store.Image) bool {
	for _, i := range []*store.Image{&a, &b} {
		i.BuiltAt, i.CreatedAt, i.UpdatedAt = i.BuiltAt.UTC(), i.CreatedAt.UTC(), i.UpdatedAt.UTC()
	}
	return a == b
}

func testImageWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer s.Subscribe(heard.add)()
	change := store.Change{Kind: store.ChangeImage, Name: "web"}
	wantHeard := func(what string) {
		t.Helper()
		if got := heard.take(); !slices.Contains(got, change) {
			t.Fatalf("%s: heard %+v by the time it returned, want %+v", what, got, change)
		}
	}
	in := newImage("web", "ann")
	in.ID, in.Base = "mine", "@base"
	created, err := s.CreateImage(ctx, in)
	if _, ok := store.ValidID(created.ID); err != nil || !ok || created.CreatedAt.IsZero() || !created.UpdatedAt.Equal(created.CreatedAt) {
		t.Fatalf("create: %+v %v, want an ID from NewID and its times set", created, err)
	}
	if created.Kind != store.ImageKindFunction || created.Network != store.NetworkNone || created.Dockerfile != "Dockerfile" {
		t.Fatalf("create: %+v, want the defaults applied", created)
	}
	wantHeard("create")
	got, err := s.GetImage(ctx, "web")
	if err != nil || !sameImage(got, created) {
		t.Fatalf("get: %+v %v, want %+v", got, err, created)
	}
	if _, err := s.CreateImage(ctx, newImage("web", "bob")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("create a taken name: %v, want ErrExists", err)
	}
	if _, err := s.CreateImage(ctx, newImage("Bad Name", "bob")); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("create an invalid image: %v, want ErrInvalid", err)
	}
	if _, err := s.GetImage(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get a missing image: %v, want ErrNotFound", err)
	}

	onlyBob, seen := guardOf("bob")
	fnErr := errors.New("fn refuses")
	for _, c := range []struct {
		name  string
		fn    func(*store.Image) error
		guard store.AppGuard
		want  error
	}{
		{"another owner's guard refuses it", func(i *store.Image) error { i.Status = store.ImageReady; return nil }, onlyBob, errNotYours},
		{"a rename is refused", func(i *store.Image) error { i.Name, i.Status = "other", store.ImageReady; return nil }, nil, store.ErrInvalid},
		{"a change of ID is refused", func(i *store.Image) error { i.ID, i.Status = "other", store.ImageReady; return nil }, nil, store.ErrInvalid},
		{"a change of owner is refused", func(i *store.Image) error { i.Owner, i.Status = "bob", store.ImageReady; return nil }, nil, store.ErrInvalid},
		{"an invalid image is refused", func(i *store.Image) error { i.Kind, i.Status = "nope", store.ImageReady; return nil }, nil, store.ErrInvalid},
		{"fn's error is returned", func(i *store.Image) error { i.Status = store.ImageReady; return fnErr }, nil, fnErr},
	} {
		if _, err := s.UpdateImage(ctx, "web", c.fn, c.guard); !errors.Is(err, c.want) {
			t.Fatalf("update where %s: %v, want %v", c.name, err, c.want)
		}
		if got, _ := s.GetImage(ctx, "web"); !sameImage(got, created) {
			t.Fatalf("update where %s wrote %+v", c.name, got)
		}
	}
	if !slices.Equal(*seen, []string{"ann"}) {
		t.Fatalf("the guard saw owners %v, want the stored owner ann", *seen)
	}
	onlyAnn, _ := guardOf("ann")
	heard.take()
	built := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	updated, err := s.UpdateImage(ctx, "web", func(i *store.Image) error {
		i.Status, i.Digest, i.Size, i.Tag, i.BuiltAt = store.ImageReady, "sha256:abc", 1234, "gantry-images/web:b1", built
		i.CreatedAt = time.Time{} // kept whatever fn does
		return nil
	}, onlyAnn)
	if err != nil || updated.Status != store.ImageReady || updated.Digest != "sha256:abc" || updated.Size != 1234 ||
		updated.Tag != "gantry-images/web:b1" || !updated.BuiltAt.Equal(built) || updated.ID != created.ID ||
		updated.Owner != "ann" || !updated.CreatedAt.Equal(created.CreatedAt) || !updated.UpdatedAt.After(created.UpdatedAt) {
		t.Fatalf("update: %+v %v", updated, err)
	}
	wantHeard("update")
	if got, _ := s.GetImage(ctx, "web"); !got.UpdatedAt.Equal(updated.UpdatedAt) || got.Digest != "sha256:abc" || !got.BuiltAt.Equal(built) {
		t.Fatalf("read after update: %+v, want %+v", got, updated)
	}
	again, err := s.UpdateImage(ctx, "web", func(i *store.Image) error { i.Build = "b2"; return nil }, nil)
	if err != nil || !again.UpdatedAt.After(updated.UpdatedAt) {
		t.Fatalf("a second update: %+v %v, want UpdatedAt to move past %v", again, err, updated.UpdatedAt)
	}

	if _, err := s.UpdateImage(ctx, "nope", func(*store.Image) error { return nil }, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update a missing image: %v, want ErrNotFound", err)
	}
	if err := s.DeleteImage(ctx, "nope", nil, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete a missing image: %v, want ErrNotFound", err)
	}
	heard.take()
	if err := s.DeleteImage(ctx, "web", onlyAnn, nil); err != nil {
		t.Fatal(err)
	}
	wantHeard("delete")
	if _, err := s.GetImage(ctx, "web"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
	remade, err := s.CreateImage(ctx, newImage("web", "bob"))
	if err != nil || remade.ID == created.ID || remade.Owner != "bob" {
		t.Fatalf("made again under its name: %+v %v, want a new ID", remade, err)
	}
}

func testListImages(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i, name := range []string{"c", "a", "e", "b", "d", "f"} {
		kind := store.ImageKindFunction
		if i%3 == 0 {
			kind = store.ImageKindBase // c, b
		}
		mustImage(t, s, name, []string{"ann", "bob"}[i%2], kind, "")
	}
	pages := func(f store.ImageFilter, per int) []string {
		var names []string
		cursor := ""
		for {
			list, next, err := s.ListImages(ctx, f, store.Page{Cursor: cursor, Limit: per})
			if err != nil {
				t.Fatal(err)
			}
			checkPageAfterCursor(t, cursor, len(list))
			for _, img := range list {
				names = append(names, img.Name)
			}
			if next == "" {
				return names
			}
			if len(list) != per {
				t.Fatalf("a page of %d and a next cursor, want %d", len(list), per)
			}
			cursor = next
		}
	}
	bobs := func(i store.Image) bool { return i.Owner == "bob" } // a, b, f
	for _, per := range []int{1, 2, 3, 100} {
		for _, c := range []struct {
			f    store.ImageFilter
			want []string
		}{
			{store.ImageFilter{}, []string{"a", "b", "c", "d", "e", "f"}},
			{store.ImageFilter{Kind: store.ImageKindBase}, []string{"b", "c"}},
			{store.ImageFilter{Kind: store.ImageKindFunction}, []string{"a", "d", "e", "f"}},
			{store.ImageFilter{Visible: bobs}, []string{"a", "b", "f"}},
			{store.ImageFilter{Kind: store.ImageKindFunction, Visible: bobs}, []string{"a", "f"}},
			{store.ImageFilter{Visible: func(store.Image) bool { return false }}, nil},
		} {
			if got := pages(c.f, per); !slices.Equal(got, c.want) {
				t.Fatalf("%d a page of kind %q: %v, want %v", per, c.f.Kind, got, c.want)
			}
		}
	}
	if _, _, err := s.ListImages(ctx, store.ImageFilter{}, store.Page{Cursor: "not a cursor!"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a cursor the store never gave: %v, want ErrInvalid", err)
	}
}

func testImageInUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustImage(t, s, "base", "ann", store.ImageKindBase, "")
	mustImage(t, s, "web", "ann", store.ImageKindFunction, "@base")
	mustImage(t, s, "free", "ann", store.ImageKindFunction, "")
	mustApp(t, s, "shop", "ann")
	mustApp(t, s, "blog", "bob")
	for _, r := range []store.Route{
		{App: "shop", Path: "/b", Image: "@web"},
		{App: "shop", Path: "/a", Image: "@web"},
		{App: "blog", Path: "/x", Image: "@web"},
		{App: "blog", Path: "/y", Image: "web"}, // a Docker reference, not the image
	} {
		if _, err := s.CreateRoute(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	wantUsers := func(name string, limit int, want ...store.ImageUser) {
		t.Helper()
		got, err := s.ImageUsers(ctx, name, limit)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("ImageUsers(%s, %d) = %+v %v, want %+v", name, limit, got, err, want)
		}
	}
	wantInUse := func(name string, users ...store.ImageUser) {
		t.Helper()
		err := s.DeleteImage(ctx, name, nil, nil)
		var inUse *store.ImageInUseError
		if !errors.Is(err, store.ErrConflict) || !errors.As(err, &inUse) || inUse.Image != name || !slices.Equal(inUse.Users, users) {
			t.Fatalf("delete image %s: %v, want an ImageInUseError naming %+v", name, err, users)
		}
		for _, u := range users {
			if !strings.Contains(err.Error(), u.String()) {
				t.Fatalf("the error %q does not name %s", err, u)
			}
		}
		if _, err := s.GetImage(ctx, name); err != nil {
			t.Fatalf("a refused delete removed image %s: %v", name, err)
		}
	}
	shopA, shopB, blogX := store.ImageUser{App: "shop", Path: "/a"}, store.ImageUser{App: "shop", Path: "/b"}, store.ImageUser{App: "blog", Path: "/x"}
	wantUsers("web", 0, blogX, shopA, shopB)
	wantUsers("web", 2, blogX, shopA)
	wantUsers("base", 0, store.ImageUser{Image: "web"})
	wantUsers("free", 0)
	wantUsers("nope", 10)
	wantInUse("web", blogX, shopA, shopB)
	wantInUse("base", store.ImageUser{Image: "web"})

	// Every route write that stops naming the image frees it, one user at a time.
	if _, err := s.UpdateRoute(ctx, "shop", "/a", func(r *store.Route) error { r.Image = "@free"; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	wantUsers("free", 0, shopA)
	wantInUse("web", blogX, shopB)
	if _, _, err := s.PutRoute(ctx, store.Route{App: "shop", Path: "/b", Image: "busybox"}, nil); err != nil {
		t.Fatal(err)
	}
	wantInUse("web", blogX)
	if _, _, err := s.PutRoute(ctx, store.Route{App: "blog", Path: "/z", Image: "@web"}, nil); err != nil {
		t.Fatal(err)
	}
	wantInUse("web", blogX, store.ImageUser{App: "blog", Path: "/z"})
	for _, p := range []string{"/x", "/z"} {
		if err := s.DeleteRoute(ctx, "blog", p, nil); err != nil {
			t.Fatal(err)
		}
	}
	wantUsers("web", 0)
	// An update that keeps naming an image keeps it used.
	if _, err := s.UpdateRoute(ctx, "shop", "/a", func(r *store.Route) error { r.MemoryMiB = 256; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	wantInUse("free", shopA)
	// An image that stops building on its base frees the base.
	if _, err := s.UpdateImage(ctx, "web", func(i *store.Image) error { i.Base = ""; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"web", "base"} {
		if err := s.DeleteImage(ctx, name, nil, nil); err != nil {
			t.Fatalf("delete image %s, used by nothing now: %v", name, err)
		}
	}
}

func testDeleteImageGuardAndCheck(t *testing.T, s store.Store) {
	ctx := t.Context()
	img := mustImage(t, s, "web", "ann", store.ImageKindFunction, "")
	if err := s.SetImageLog(ctx, "web", img.Build, []byte("step 1\n")); err != nil {
		t.Fatal(err)
	}
	onlyBob, _ := guardOf("bob")
	creating := errors.New("image is CREATING")
	var checked []store.Image
	check := func(i store.Image) error {
		checked = append(checked, i)
		if i.Status == store.ImageCreating {
			return store.Errorf(store.ErrConflict, "%v", creating)
		}
		return nil
	}
	if err := s.DeleteImage(ctx, "web", onlyBob, check); !errors.Is(err, errNotYours) {
		t.Fatalf("delete under another owner's guard: %v, want its error", err)
	}
	if len(checked) != 0 {
		t.Fatalf("check ran though the guard refused: %+v", checked)
	}
	onlyAnn, _ := guardOf("ann")
	if err := s.DeleteImage(ctx, "web", onlyAnn, check); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete refused by check: %v, want its error", err)
	}
	if len(checked) != 1 || checked[0].ID != img.ID || checked[0].Status != store.ImageCreating {
		t.Fatalf("check saw %+v, want the stored image", checked)
	}
	if _, err := s.GetImage(ctx, "web"); err != nil {
		t.Fatalf("a delete check refused removed the image: %v", err)
	}
	if log, err := s.GetImageLog(ctx, "web"); err != nil || string(log) != "step 1\n" {
		t.Fatalf("a delete check refused removed the log: %q %v", log, err)
	}
	if _, err := s.UpdateImage(ctx, "web", func(i *store.Image) error { i.Status = store.ImageReady; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteImage(ctx, "web", onlyAnn, check); err != nil {
		t.Fatalf("delete a READY image: %v", err)
	}
	if len(checked) != 2 || checked[1].Status != store.ImageReady {
		t.Fatalf("check saw %+v, want the image as stored at the delete", checked)
	}
}

func testImageLog(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.SetImageLog(ctx, "nope", "b1", []byte("x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("set the log of a missing image: %v, want ErrNotFound", err)
	}
	if _, err := s.GetImageLog(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get the log of a missing image: %v, want ErrNotFound", err)
	}
	mustImage(t, s, "web", "ann", store.ImageKindFunction, "")
	if log, err := s.GetImageLog(ctx, "web"); err != nil || log == nil || len(log) != 0 {
		t.Fatalf("the log of a new image: %q (nil %t) %v, want empty", log, log == nil, err)
	}
	if err := s.SetImageLog(ctx, "web", "b1", []byte("step 1\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetImageLog(ctx, "web", "b1", []byte("step 1\nstep 2\n")); err != nil {
		t.Fatal(err)
	}
	if log, err := s.GetImageLog(ctx, "web"); err != nil || string(log) != "step 1\nstep 2\n" {
		t.Fatalf("log: %q %v, want the last one set", log, err)
	}
	if _, err := s.UpdateImage(ctx, "web", func(i *store.Image) error { i.Build = "b2"; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetImageLog(ctx, "web", "b1", []byte("stale")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("set the log of an old build: %v, want ErrConflict", err)
	}
	if log, _ := s.GetImageLog(ctx, "web"); string(log) != "step 1\nstep 2\n" {
		t.Fatalf("a stale build's log was written: %q", log)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), store.MaxImageLog/16+100) // MaxImageLog + 1600 bytes
	big = append([]byte("HEAD"), big...)
	if err := s.SetImageLog(ctx, "web", "b2", big); err != nil {
		t.Fatal(err)
	}
	log, err := s.GetImageLog(ctx, "web")
	if err != nil || len(log) != store.MaxImageLog || !bytes.Equal(log, big[len(big)-store.MaxImageLog:]) {
		t.Fatalf("a log past MaxImageLog: %d bytes %v, want its last %d", len(log), err, store.MaxImageLog)
	}
	if err := s.SetImageLog(ctx, "web", "b2", nil); err != nil {
		t.Fatal(err)
	}
	if log, err := s.GetImageLog(ctx, "web"); err != nil || len(log) != 0 {
		t.Fatalf("a log set empty: %q %v", log, err)
	}
	if err := s.SetImageLog(ctx, "web", "b2", []byte("kept until the delete")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteImage(ctx, "web", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetImageLog(ctx, "web"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the log of a deleted image: %v, want ErrNotFound", err)
	}
	img := newImage("web", "ann")
	img.Build = "b2"
	if _, err := s.CreateImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	if log, err := s.GetImageLog(ctx, "web"); err != nil || len(log) != 0 {
		t.Fatalf("an image made again under the name of a deleted one has log %q %v, want none", log, err)
	}
}

func testExecutionImageDigest(t *testing.T, s store.Store) {
	ctx := t.Context()
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	ex := newExec(s, "shop", "/fn", store.StatusSuccess)
	ex.ImageDigest = digest
	s.RecordExecution(ex, []byte("log"))
	flush(t, s)
	if got, err := s.GetExecution(ctx, ex.ID); err != nil || got.ImageDigest != digest {
		t.Fatalf("a recorded execution: %+v %v, want image digest %s", got, err, digest)
	}
	list, _, err := s.ListExecutions(ctx, store.ExecutionFilter{App: "shop"}, store.Page{})
	if err != nil || len(list) != 1 || list[0].ImageDigest != digest {
		t.Fatalf("listed: %+v %v, want image digest %s", list, err, digest)
	}
	plain := newExec(s, "shop", "/fn", store.StatusSuccess)
	s.RecordExecution(plain, nil)
	flush(t, s)
	if got, err := s.GetExecution(ctx, plain.ID); err != nil || got.ImageDigest != "" {
		t.Fatalf("an execution without a digest: %+v %v", got, err)
	}

	id := enqueue(t, s, 0)
	if got, err := s.GetExecution(ctx, id); err != nil || got.ImageDigest != "" {
		t.Fatalf("a queued execution: %+v %v, want no digest yet", got, err)
	}
	mustLease(t, s, 1, "w")
	if err := s.CompleteTask(ctx, id, "w", store.Execution{Status: store.StatusSuccess, ImageDigest: digest}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetExecution(ctx, id); err != nil || got.ImageDigest != digest {
		t.Fatalf("a task's execution: %+v %v, want image digest %s", got, err, digest)
	}
}

func testPeersShareImages(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	var heard changeLog
	defer b.Subscribe(heard.add)()
	change := store.Change{Kind: store.ChangeImage, Name: "web"}
	mustImage(t, a, "web", "ann", store.ImageKindFunction, "")
	heard.hears(t, change)
	heard.take()
	if _, err := a.UpdateImage(ctx, "web", func(i *store.Image) error { i.Status, i.Digest = store.ImageReady, "sha256:1"; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	heard.hears(t, change)
	if got, err := b.GetImage(ctx, "web"); err != nil || got.Digest != "sha256:1" {
		t.Fatalf("node b reads %+v %v, want node a's update", got, err)
	}

	mustApp(t, b, "shop", "ann")
	if _, err := b.CreateRoute(ctx, store.Route{App: "shop", Path: "/f", Image: "@web"}, nil); err != nil {
		t.Fatal(err)
	}
	var inUse *store.ImageInUseError
	if err := a.DeleteImage(ctx, "web", nil, nil); !errors.As(err, &inUse) || !slices.Equal(inUse.Users, []store.ImageUser{{App: "shop", Path: "/f"}}) {
		t.Fatalf("node a deletes an image a route of node b names: %v, want an ImageInUseError naming it", err)
	}
	mustImage(t, b, "child", "ann", store.ImageKindFunction, "@web")
	if _, err := b.UpdateRoute(ctx, "shop", "/f", func(r *store.Route) error { r.Image = "busybox"; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteImage(ctx, "web", nil, nil); !errors.As(err, &inUse) || !slices.Equal(inUse.Users, []store.ImageUser{{Image: "child"}}) {
		t.Fatalf("node a deletes the base of node b's image: %v, want an ImageInUseError naming it", err)
	}
	if err := b.DeleteImage(ctx, "child", nil, nil); err != nil {
		t.Fatal(err)
	}
	heard.take()
	if err := a.DeleteImage(ctx, "web", nil, nil); err != nil {
		t.Fatal(err)
	}
	heard.hears(t, change)
}
