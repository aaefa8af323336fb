// Command dbsize prints how the bytes of a Trunkline SQLite store are spread over its
// tables and indexes (SQLite's dbstat), and per message when -messages is given: what a
// message costs on disk, part by part (bench/README.md, "Bytes on disk per message").
//
//	go run ./bench/dbsize -messages 20001 DATA/trunkline.db
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"os"
	"sort"

	_ "modernc.org/sqlite"
)

func main() {
	msgs := flag.Int("messages", 0, "messages in the store (prints bytes per message)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: dbsize [-messages N] PATH/trunkline.db")
		os.Exit(2)
	}
	db, err := sql.Open("sqlite", "file:"+flag.Arg(0)+"?mode=ro")
	if err != nil {
		fail(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT d.name, COALESCE(m.tbl_name, d.name), SUM(d.pgsize) FROM dbstat d LEFT JOIN sqlite_master m ON m.name = d.name
		GROUP BY d.name`)
	if err != nil {
		fail(err)
	}
	type obj struct {
		name, table string
		bytes       int64
	}
	var objs []obj
	byTable := map[string]int64{}
	var total int64
	for rows.Next() {
		var o obj
		if err := rows.Scan(&o.name, &o.table, &o.bytes); err != nil {
			fail(err)
		}
		objs = append(objs, o)
		byTable[o.table] += o.bytes
		total += o.bytes
	}
	if err := rows.Err(); err != nil {
		fail(err)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].bytes > objs[j].bytes })
	per := func(b int64) string {
		if *msgs == 0 {
			return ""
		}
		return fmt.Sprintf(" %8.0f B/msg", float64(b)/float64(*msgs))
	}
	fmt.Printf("%-36s %12s\n", "table (with its indexes)", "bytes")
	tables := make([]string, 0, len(byTable))
	for t := range byTable {
		tables = append(tables, t)
	}
	sort.Slice(tables, func(i, j int) bool { return byTable[tables[i]] > byTable[tables[j]] })
	for _, t := range tables {
		if byTable[t] >= 8192 {
			fmt.Printf("%-36s %12d%s\n", t, byTable[t], per(byTable[t]))
		}
	}
	fmt.Printf("%-36s %12d%s\n\n%-36s %12s\n", "all (the database file)", total, per(total), "b-tree (table or index)", "bytes")
	for _, o := range objs {
		if o.bytes >= 8192 {
			fmt.Printf("%-36s %12d%s\n", o.name, o.bytes, per(o.bytes))
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dbsize:", err)
	os.Exit(1)
}
