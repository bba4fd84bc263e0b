// Package session names the files of a goray session: the session
// directory holds logs and the token; sockets live in a directory short
// enough for Unix socket paths (108 bytes on Linux).
package session

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
)

// maxSocketDir leaves room for "/node-xxxxxxxxxxxx" under the 107-byte
// limit of sun_path.
const maxSocketDir = 80

// SocketDir is where the session's Unix sockets go: <session>/sockets when
// that is short enough, else a directory under the system temp dir named
// by a hash of the session path.
func SocketDir(sessionDir string) string {
	d := filepath.Join(sessionDir, "sockets")
	if len(d) <= maxSocketDir {
		return d
	}
	h := sha256.Sum256([]byte(sessionDir))
	return filepath.Join(os.TempDir(), "goray-s-"+hex.EncodeToString(h[:6]))
}
