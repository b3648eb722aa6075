package handlers

import (
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/store"
)

// secretToModel converts the record of a function secret: never a value (a record has none).
func secretToModel(s store.Secret) *models.Secret {
	keys := s.Keys
	if keys == nil {
		keys = []string{}
	}
	return &models.Secret{
		Name:      s.Name,
		Owner:     s.Owner,
		Keys:      keys,
		Version:   int64(s.Version),
		Versions:  versionsToModel(s.Versions),
		CreatedBy: s.CreatedBy,
		CreatedAt: dateTime(s.CreatedAt),
		UpdatedAt: dateTime(s.UpdatedAt),
	}
}

// sshKeyToModel converts the record of user's SSH key: its metadata, never key material.
func sshKeyToModel(user string, s store.Secret) *models.SSHKey {
	m := &models.SSHKey{
		User:      user,
		CreatedBy: s.CreatedBy,
		CreatedAt: dateTime(s.CreatedAt),
		UpdatedAt: dateTime(s.UpdatedAt),
		Version:   int64(s.Version),
		Versions:  versionsToModel(s.Versions),
	}
	if info := s.SSH; info != nil {
		m.Type, m.Bits, m.Fingerprint, m.Comment = info.Type, int64(info.Bits), info.Fingerprint, info.Comment
	}
	return m
}

func versionsToModel(versions []int) []int64 {
	out := make([]int64, len(versions))
	for i, v := range versions {
		out[i] = int64(v)
	}
	return out
}
