package main

import "testing"

func TestAPIsParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr string
	}{
		{in: "10/s", want: 10},
		{in: "600/m", want: 10},
		{in: "7200/h", want: 2},
		{in: "0.5/s", want: 0.5},
		{in: "10/d", wantErr: "want a number"},
		{in: "10", wantErr: "want a number"},
		{in: "NaN/s", wantErr: "want a number"},
		{in: "-1/s", wantErr: "must be positive"},
		{in: "2000000/s", wantErr: "at most 1000000"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseRate(tt.in)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" && got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAPIsParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "1048576", want: 1 << 20},
		{in: "512B", want: 512},
		{in: "64KiB", want: 64 << 10},
		{in: "1MiB", want: 1 << 20},
		{in: "100MiB", want: 100 << 20},
		{in: "100MiB1", wantErr: "want a number of bytes"},
		{in: "1MB", wantErr: "want a number of bytes"},
		{in: "-1", wantErr: "want a number of bytes"},
		{in: "1.5MiB", wantErr: "want a number of bytes"},
		{in: "104857601", wantErr: "at most 100MiB"},
		{in: "9223372036854775807KiB", wantErr: "at most 100MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseByteSize(tt.in)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" && got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestAPIsParseTimeout(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "5s", want: 5},
		{in: "2m", want: 120},
		{in: "30", want: 30},
		{in: "300s", want: 300},
		{in: "0s", wantErr: "between 1s and 300s"},
		{in: "0", wantErr: "between 1s and 300s"},
		{in: "5m1s", wantErr: "between 1s and 300s"},
		{in: "1.5s", wantErr: "whole seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseAPITimeout(tt.in)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" && got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestAPIsParseFunction(t *testing.T) {
	tests := []struct {
		in, app, route string
		wantErr        string
	}{
		{in: "shop/users/:id", app: "shop", route: "/users/:id"},
		{in: "demo/hello", app: "demo", route: "/hello"},
		{in: "shop", wantErr: "want APP/ROUTE"},
		{in: "shop/", wantErr: "want APP/ROUTE"},
		{in: "/hello", wantErr: "want APP/ROUTE"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseAPIFunction(tt.in)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" && (*got.App != tt.app || *got.Route != tt.route) {
				t.Errorf("got %s %s, want %s %s", *got.App, *got.Route, tt.app, tt.route)
			}
		})
	}
}
