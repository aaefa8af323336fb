package backup

import (
	"context"
	"fmt"
	"strings"
)

// Retention keeps the newest backup of each of the last Daily days that have one and of
// each of the last Monthly months that have one; zero of both keeps everything.
type Retention struct {
	Daily, Monthly int
}

// Keep returns the ids (sorted oldest first, as List gives them) that r keeps.
func (r Retention) Keep(ids []string) map[string]bool {
	keep := map[string]bool{}
	if r.Daily <= 0 && r.Monthly <= 0 {
		for _, id := range ids {
			keep[id] = true
		}
		return keep
	}
	days, months := map[string]bool{}, map[string]bool{}
	for i := len(ids) - 1; i >= 0; i-- { // newest first
		t, ok := idTime(ids[i])
		if !ok {
			keep[ids[i]] = true // not ours to judge
			continue
		}
		d, m := t.Format("2006-01-02"), t.Format("2006-01")
		if !days[d] && len(days) < r.Daily {
			days[d] = true
			keep[ids[i]] = true
		}
		if !months[m] && len(months) < r.Monthly {
			months[m] = true
			keep[ids[i]] = true
		}
	}
	if len(ids) > 0 {
		keep[ids[len(ids)-1]] = true // never the newest
	}
	return keep
}

// Prune applies r at one destination: it deletes the backups r does not keep, then the
// blobs no kept backup names. It returns the deleted backup ids.
func Prune(ctx context.Context, d Destination, k *Key, r Retention) ([]string, error) {
	ids, err := List(ctx, d)
	if err != nil {
		return nil, err
	}
	keep := r.Keep(ids)
	used := map[string]bool{}
	for _, id := range ids {
		if !keep[id] {
			continue
		}
		m, _, err := LoadManifest(ctx, d, k, id)
		if err != nil {
			// A kept backup we cannot read: keep every blob rather than guess.
			return nil, fmt.Errorf("retention at %s: %w", d.Name(), err)
		}
		for _, o := range m.Objects {
			if o.Kind == "blob" {
				used[o.Blob] = true
			}
			for _, part := range o.Parts {
				used[part.Blob] = true
			}
		}
	}
	var deleted []string
	for _, id := range ids {
		if keep[id] {
			continue
		}
		keys, err := d.List(ctx, "backups/"+id+"/")
		if err != nil {
			return deleted, err
		}
		// The manifest first: a half-deleted backup is then no backup at all.
		for _, key := range append([]string{"backups/" + id + "/manifest"}, keys...) {
			if err := d.Delete(ctx, key); err != nil {
				return deleted, err
			}
		}
		deleted = append(deleted, id)
	}
	blobs, err := d.List(ctx, "blobs/")
	if err != nil {
		return deleted, err
	}
	for _, key := range blobs {
		if !used[strings.TrimPrefix(key, "blobs/")] {
			if err := d.Delete(ctx, key); err != nil {
				return deleted, err
			}
		}
	}
	return deleted, nil
}
