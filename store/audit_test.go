package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/trunkline/trunkline"
	. "github.com/trunkline/trunkline/store"
	"github.com/trunkline/trunkline/store/storetest"
)

// appendRaw appends a record with made-up hashes; the rules that make hashes right
// belong to package audit, the store only has to keep what it is given.
func appendRaw(ctx context.Context, db *DB, action string, tree ...[32]byte) (int64, error) {
	return db.AppendAudit(ctx, func(h trunkline.AuditHead, _ trunkline.AuditHashReader) (*trunkline.AuditAppend, error) {
		seq := h.Size + 1
		return &trunkline.AuditAppend{
			Record: trunkline.AuditRecord{
				Seq: seq, At: time.UnixMicro(1_700_000_000_000_000 + seq).UTC(), AccountID: "MA1", Action: action,
				Outcome: "success", Detail: `{"a":"b"}`, RecordHash: bytes.Repeat([]byte{byte(seq)}, 32),
				ChainHash: bytes.Repeat([]byte{byte(seq + 100)}, 32),
			},
			TreeIndex:  tlog.StoredHashIndex(0, h.Size),
			TreeHashes: tree,
		}, nil
	})
}

func TestAuditAppend(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			h, err := db.AuditHead(ctx)
			if err != nil || h.Size != 0 || !bytes.Equal(h.ChainHash, make([]byte, 32)) {
				t.Fatalf("initial head: %+v %v", h, err)
			}
			if seq, err := appendRaw(ctx, db, "a.one", [32]byte{1}); err != nil || seq != 1 {
				t.Fatalf("append: %d %v", seq, err)
			}
			// A second record sees the first one's tree hash through the reader.
			var seen [][32]byte
			_, err = db.AppendAudit(ctx, func(h trunkline.AuditHead, r trunkline.AuditHashReader) (*trunkline.AuditAppend, error) {
				if seen, err = r([]int64{0}); err != nil {
					return nil, err
				}
				return &trunkline.AuditAppend{Record: trunkline.AuditRecord{Seq: h.Size + 1, Action: "a.two", Outcome: "success", RecordHash: []byte{1}, ChainHash: []byte{2}},
					TreeIndex: 1, TreeHashes: [][32]byte{{2}, {3}}}, nil
			})
			if err != nil || len(seen) != 1 || seen[0] != ([32]byte{1}) {
				t.Fatalf("second append: %v %v", seen, err)
			}

			tests := []struct {
				name  string
				build func(h trunkline.AuditHead, _ trunkline.AuditHashReader) (*trunkline.AuditAppend, error)
				err   string
			}{
				{"build fails", func(trunkline.AuditHead, trunkline.AuditHashReader) (*trunkline.AuditAppend, error) {
					return nil, errors.New("boom")
				}, "boom"},
				{"seq does not follow the head", func(h trunkline.AuditHead, _ trunkline.AuditHashReader) (*trunkline.AuditAppend, error) {
					return &trunkline.AuditAppend{Record: trunkline.AuditRecord{Seq: h.Size + 2, Action: "x", Outcome: "success", RecordHash: []byte{1}, ChainHash: []byte{1}}}, nil
				}, "does not follow"},
				{"reading a missing tree hash", func(h trunkline.AuditHead, r trunkline.AuditHashReader) (*trunkline.AuditAppend, error) {
					_, err := r([]int64{99})
					return nil, err
				}, "missing"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					if _, err := db.AppendAudit(ctx, tc.build); err == nil || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("err = %v, want %q", err, tc.err)
					}
					if h, _ := db.AuditHead(ctx); h.Size != 2 {
						t.Fatalf("head moved to %d", h.Size)
					}
				})
			}

			h, _ = db.AuditHead(ctx)
			recs, err := db.AuditRecords(ctx, 0, 10)
			if err != nil || len(recs) != 2 || h.Size != 2 || !bytes.Equal(h.ChainHash, []byte{2}) {
				t.Fatalf("after appends: head %+v, %d records, %v", h, len(recs), err)
			}
			r := recs[0]
			if r.Seq != 1 || r.Action != "a.one" || r.Detail != `{"a":"b"}` || r.At != time.UnixMicro(1_700_000_000_000_001).UTC() {
				t.Fatalf("record: %+v", r)
			}
			hashes, err := db.AuditTreeHashes(ctx, []int64{2, 0, 7})
			if err != nil || len(hashes) != 3 || hashes[0][0] != 3 || hashes[1][0] != 1 || hashes[2] != nil {
				t.Fatalf("tree hashes: %v %v", hashes, err)
			}
		})
	}
}

func TestAuditCheckpoints(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			if _, err := db.LatestAuditCheckpoint(ctx); !errors.Is(err, trunkline.ErrNotFound) {
				t.Fatalf("empty: %v", err)
			}
			at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
			for _, size := range []int64{3, 1, 7} {
				if err := db.AddAuditCheckpoint(ctx, trunkline.AuditCheckpoint{Size: size, CreatedAt: at, Note: "n"}); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.AddAuditCheckpoint(ctx, trunkline.AuditCheckpoint{Size: 3, CreatedAt: at, Note: "again"}); !errors.Is(err, trunkline.ErrConflict) {
				t.Fatalf("duplicate: %v", err)
			}
			if c, err := db.LatestAuditCheckpoint(ctx); err != nil || c.Size != 7 || !c.CreatedAt.Equal(at) {
				t.Fatalf("latest: %+v %v", c, err)
			}
			page, err := db.AuditCheckpoints(ctx, 1, 1)
			if err != nil || len(page) != 1 || page[0].Size != 3 {
				t.Fatalf("page: %+v %v", page, err)
			}
		})
	}
}

func TestListAuditManyAccounts(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			if _, err := appendRaw(ctx, db, "x.y", [32]byte{1}); err != nil {
				t.Fatal(err)
			}
			ids := []string{"MA1"}
			for i := 0; i < 300; i++ {
				ids = append(ids, "SA"+strings.Repeat("x", i%7))
			}
			recs, total, err := db.ListAudit(ctx, trunkline.AuditFilter{AccountIDs: ids, Action: "x.y", Limit: 5})
			if err != nil || total != 1 || len(recs) != 1 {
				t.Fatalf("%v %d %v", recs, total, err)
			}
		})
	}
}

func TestAuditAppendBatch(t *testing.T) {
	for _, db := range storetest.Open(t) {
		t.Run(string(db.Dialect()), func(t *testing.T) {
			ctx := context.Background()
			if _, err := appendRaw(ctx, db, "a.one", [32]byte{1}); err != nil {
				t.Fatal(err)
			}
			// batch builds n records after h, each with four made-up tree hashes: enough
			// rows that both inserts take more than one statement.
			batch := func(h trunkline.AuditHead, n int) []*trunkline.AuditAppend {
				out := make([]*trunkline.AuditAppend, n)
				for i := range out {
					seq := h.Size + 1 + int64(i)
					out[i] = &trunkline.AuditAppend{
						Record: trunkline.AuditRecord{Seq: seq, At: time.UnixMicro(seq).UTC(), Action: fmt.Sprintf("b.%d", seq), Outcome: "success",
							RecordHash: []byte{byte(seq)}, ChainHash: []byte{byte(seq), 1}},
						TreeIndex:  1 + 4*int64(seq-2),
						TreeHashes: [][32]byte{{byte(seq), 1}, {byte(seq), 2}, {byte(seq), 3}, {byte(seq), 4}},
					}
				}
				return out
			}
			const n = 150
			first, err := db.AppendAuditBatch(ctx, func(h trunkline.AuditHead, _ trunkline.AuditHashReader) ([]*trunkline.AuditAppend, error) {
				return batch(h, n), nil
			})
			if err != nil || first != 2 {
				t.Fatalf("batch: first %d, %v", first, err)
			}
			check := func() {
				t.Helper()
				h, err := db.AuditHead(ctx)
				if err != nil || h.Size != n+1 || !bytes.Equal(h.ChainHash, []byte{byte(n + 1), 1}) {
					t.Fatalf("head %+v %v", h, err)
				}
				recs, err := db.AuditRecords(ctx, 0, 1000)
				if err != nil || len(recs) != n+1 {
					t.Fatalf("%d records, %v", len(recs), err)
				}
				for i, r := range recs[1:] {
					if r.Seq != int64(i+2) || r.Action != fmt.Sprintf("b.%d", i+2) {
						t.Fatalf("record %d: %+v", i+2, r)
					}
				}
				idx := make([]int64, 4*n+2)
				for i := range idx {
					idx[i] = int64(i)
				}
				hs, err := db.AuditTreeHashes(ctx, idx)
				if err != nil {
					t.Fatal(err)
				}
				for i, h := range hs {
					if (i <= 4*n) != (h != nil) {
						t.Fatalf("tree hash %d: %x", i, h)
					}
				}
				if hs[4*n][0] != byte(n+1) || hs[4*n][1] != 4 {
					t.Fatalf("last tree hash %x", hs[4*n])
				}
			}
			check()

			tests := []struct {
				name string
				edit func([]*trunkline.AuditAppend) []*trunkline.AuditAppend
				err  string
			}{
				{"empty batch", func([]*trunkline.AuditAppend) []*trunkline.AuditAppend { return nil }, "built nothing"},
				{"gap in seqs", func(b []*trunkline.AuditAppend) []*trunkline.AuditAppend { b[5].Record.Seq++; return b }, "does not follow"},
				// Fails in the middle of the transaction, after the head moved and rows
				// were inserted: all of it must be rolled back.
				{"last record rejected by the database", func(b []*trunkline.AuditAppend) []*trunkline.AuditAppend {
					b[len(b)-1].Record.RecordHash = nil
					return b
				}, "record_hash"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					_, err := db.AppendAuditBatch(ctx, func(h trunkline.AuditHead, _ trunkline.AuditHashReader) ([]*trunkline.AuditAppend, error) {
						return tc.edit(batch(h, n)), nil
					})
					if err == nil || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("err = %v, want %q", err, tc.err)
					}
					check()
				})
			}
		})
	}
}
