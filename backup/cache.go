package backup

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// The file cache lets a backup skip re-reading recordings it saw before: a file whose
// size, modification time and inode are unchanged keeps its blob id and hash (recordings
// are written once and replaced by rename, never edited in place). It holds only keyed
// hashes, useless without the backup key, and is tied to the key that made them.

type fileCache struct {
	KeyID string                `json:"backup_key_id"`
	Files map[string]cacheEntry `json:"files"`
}

type cacheEntry struct {
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtime_ns"`
	Ino     uint64 `json:"ino"`
	Blob    string `json:"blob"`
	SHA256  string `json:"sha256"`
}

func statEntry(fi os.FileInfo) cacheEntry {
	return cacheEntry{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano(), Ino: inode(fi)}
}

func loadCache(path, keyID string) *fileCache {
	c := &fileCache{KeyID: keyID, Files: map[string]cacheEntry{}}
	if path == "" {
		return c
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c
	}
	var old fileCache
	if json.Unmarshal(b, &old) == nil && old.KeyID == keyID && old.Files != nil {
		c.Files = old.Files
	}
	return c
}

// lookup returns the cached blob of a file if the file is unchanged.
func (c *fileCache) lookup(rel string, fi os.FileInfo) (cacheEntry, bool) {
	e, ok := c.Files[rel]
	now := statEntry(fi)
	if !ok || e.Size != now.Size || e.MtimeNs != now.MtimeNs || e.Ino != now.Ino || e.Blob == "" {
		return cacheEntry{}, false
	}
	return e, true
}

func saveCache(path string, c *fileCache, seen map[string]cacheEntry) {
	if path == "" {
		return
	}
	b, err := json.Marshal(fileCache{KeyID: c.KeyID, Files: seen})
	if err != nil {
		return
	}
	tmp := path + ".tmp"
	if os.MkdirAll(filepath.Dir(path), 0o700) != nil || os.WriteFile(tmp, b, 0o600) != nil {
		return
	}
	os.Rename(tmp, path)
}
