package app

import (
	"context"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/linktoken"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/track"
)

// openTracking builds open and click tracking: links under publicURL (the
// unsubscribe links' base) unless a set names a custom redirect domain,
// tokens signed with a key of their own sealed by box, events woken to
// the publisher as they are recorded.
func (a *App) openTracking(d *db.DB, box *seal.Box, publicURL string) error {
	key, err := linktoken.LoadKey(context.Background(), d, box, track.KeySetting)
	if err != nil {
		return err
	}
	codec, err := track.NewCodec(key)
	if err != nil {
		return err
	}
	a.Track, err = track.New(track.Options{DB: d, Codec: codec, PublicURL: publicURL, Logger: a.log.With("component", "track"),
		Recorded: func() {
			if a.publisher != nil {
				a.publisher.Kick()
			}
		}})
	return err
}
