package store

import (
	"errors"
	"strings"
	"testing"
)

func TestImageNames(t *testing.T) {
	tests := []struct {
		name  string
		valid bool
	}{
		{"a", true},
		{"alpine", true},
		{"hello-base", true},
		{"greeter.hello", true},
		{"my_image", true},
		{"my__image", true},
		{"a--b", true},
		{"a---b", true},
		{"0day", true},
		{"a.b_c-d__e", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"foo-", false},
		{"foo.", false},
		{"foo_", false},
		{"-foo", false},
		{".foo", false},
		{"_foo", false},
		{"a..b", false},
		{"a___b", false},
		{"a-.b", false},
		{"a._b", false},
		{"a_-b", false},
		{"Alpine", false},
		{"a/b", false},
		{"a:b", false},
		{"a b", false},
	}
	for _, tt := range tests {
		verdict := "is refused"
		if tt.valid {
			verdict = "is accepted"
		}
		t.Run("name "+strings.ReplaceAll(tt.name, "/", "_")+" "+verdict, func(t *testing.T) {
			if got := ValidImageName(tt.name); got != tt.valid {
				t.Fatalf("ValidImageName(%q) = %v, want %v", tt.name, got, tt.valid)
			}
			img := Image{Name: tt.name, Source: ImageSourceLoad}
			img.ApplyDefaults()
			err := img.Validate()
			if tt.valid && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.valid && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate: %v, want ErrInvalid", err)
			}
			base := Image{Name: "other", Source: ImageSourceBuild, Base: ImageRefPrefix + tt.name}
			base.ApplyDefaults()
			err = base.Validate()
			if tt.valid && err != nil {
				t.Fatalf("Validate with base @%s: %v", tt.name, err)
			}
			if !tt.valid && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate with base @%s: %v, want ErrInvalid", tt.name, err)
			}
		})
	}
}
