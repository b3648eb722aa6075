package runner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// BenchmarkHotTransport weighs the two ways Gantry could reach a hot http container: TCP to
// its address on the function network (what the runner does) and a Unix socket in a
// directory shared with the container (Fn's choice). One container serves both, so the
// function's own work is the same; only the path from the server to it differs. Run with
// -cpu 1,8 for one call at a time and eight at once.
func BenchmarkHotTransport(b *testing.B) {
	if testDocker == nil {
		b.Skip("no Docker")
	}
	ctx := context.Background()
	r, err := New(ctx, testDocker, Options{Instance: "bench-transport", Labels: map[string]string{testLabel: testLabelValue}})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(ctx)
	netID, err := r.networkMode(ctx, "bridge")
	if err != nil {
		b.Fatal(err)
	}

	dir, err := os.MkdirTemp("", "gantry-sock-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o777); err != nil { // the function runs as nobody
		b.Fatal(err)
	}
	created, err := testDocker.ContainerCreate(ctx,
		&container.Config{
			Image:  testImage,
			User:   functionUser,
			Env:    []string{"FN_FORMAT=http", "PORT=8080", "TESTFN_UNIX_SOCKET=/sock/fn.sock"},
			Labels: map[string]string{testLabel: testLabelValue},
		},
		&container.HostConfig{
			NetworkMode:    container.NetworkMode(netID),
			ReadonlyRootfs: true,
			Binds:          []string{dir + ":/sock"},
			CapDrop:        []string{"ALL"},
		}, nil, nil, "")
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = testDocker.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true})
	}()
	if err := testDocker.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		b.Fatal(err)
	}
	info, err := testDocker.ContainerInspect(ctx, created.ID)
	if err != nil {
		b.Fatal(err)
	}
	var ip string
	for _, ep := range info.NetworkSettings.Networks {
		ip = ep.IPAddress
	}
	sock := filepath.Join(dir, "fn.sock")

	transports := map[string]func(ctx context.Context, _, _ string) (net.Conn, error){
		"tcp": func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(ip, "8080"))
		},
		"unix": func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}
	for _, name := range []string{"tcp", "unix"} {
		client := &http.Client{Transport: &http.Transport{
			DialContext:         transports[name],
			MaxIdleConnsPerHost: 64,
			DisableCompression:  true,
		}}
		if err := waitServing(client, 10*time.Second); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		b.Run(name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := call(client); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		client.CloseIdleConnections()
	}
}

// waitServing waits until the container answers through client.
func waitServing(client *http.Client, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		err := call(client)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call makes one call of the size the runner's benchmarks use.
func call(client *http.Client) error {
	res, err := client.Post("http://function/fn", "application/json", bytes.NewReader([]byte(`{"name":"x"}`)))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	return nil
}
