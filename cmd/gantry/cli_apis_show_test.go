package main

import (
	"bytes"
	"testing"

	"github.com/gantry-dev/gantry/gen/models"
)

func TestAPIsTableAndFields(t *testing.T) {
	app, route := "shop", "/users"
	var buf bytes.Buffer
	items := []*models.API{{Name: "users", Function: &models.APIFunction{App: &app, Route: &route}, Uris: []string{"/users"}}, nil}
	if err := writeTable(&buf, apiTable(items)); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME   FUNCTION    HOSTS  URIS    AUTH    ENABLED  OWNER\n" +
		"users  shop/users  (any)  /users  public  -        -\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	fields := map[string]string{}
	for _, f := range apiFields(&models.API{Name: "x"}) {
		fields[f.name] = f.value
	}
	for name, want := range map[string]string{"TLS": "none", "Rate limit": "none", "Hosts": "(any)", "Max body": "-"} {
		if fields[name] != want {
			t.Errorf("field %s = %q, want %q", name, fields[name], want)
		}
	}
}
