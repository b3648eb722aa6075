package handlers

import (
	"github.com/gantry-dev/gantry/gen/models"
	"github.com/gantry-dev/gantry/store"
)

// imageToModel is an image as the API shows it.
func imageToModel(img store.Image) *models.Image {
	return &models.Image{
		Name:       img.Name,
		ID:         img.ID,
		Owner:      img.Owner,
		Kind:       img.Kind,
		Source:     img.Source,
		Reference:  img.Reference,
		Base:       img.Base,
		Network:    img.Network,
		Dockerfile: img.Dockerfile,
		Status:     img.Status,
		Error:      img.Error,
		Digest:     img.Digest,
		Size:       img.Size,
		Tag:        img.Tag,
		CreatedAt:  dateTime(img.CreatedAt),
		UpdatedAt:  dateTime(img.UpdatedAt),
		BuiltAt:    dateTime(img.BuiltAt),
	}
}

// functionToModel is a route as the functions list shows it, with its app's owner.
func functionToModel(r store.Route, owner string) *models.Function {
	return &models.Function{
		App:       r.App,
		Path:      r.Path,
		Owner:     owner,
		Image:     r.Image,
		Format:    r.Format,
		Type:      r.Type,
		Memory:    r.MemoryMiB,
		Timeout:   r.Timeout,
		UpdatedAt: dateTime(r.UpdatedAt),
	}
}
