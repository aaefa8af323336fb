//go:build unix

package backup

import (
	"os"
	"syscall"
)

// inode is fi's inode number: with size and modification time it tells a recording
// replaced by rename from the one the cache saw.
func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
