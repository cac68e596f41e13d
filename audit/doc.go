// Package audit is the evidence log of DESIGN.md section 11 (invariant I6): every ticket
// issued, join refused, key issued or refused and config change becomes an [Entry], canonical
// JSON with participant ids and addresses only as keyed hashes, appended to the log of the
// meeting's region. The logs are C2SP tlog-tiles Merkle trees written with tessera's POSIX
// driver, their checkpoints C2SP signed notes (Ed25519), so they can be published and checked
// by anyone.
//
// The package writes ([OpenFolder], [Open], [Logs.Append], the [Recorder] the directory core
// and key servers call), reads a log back from a folder or over HTTP ([Dir], [URL]) with code
// written from the C2SP specifications rather than tessera's, checks it ([Verify]: the
// signature, the tree recomputed from tiles and entries, consistency with an earlier
// checkpoint, every entry against the config it names), proves single entries ([Prove],
// [CheckProof]) and summarises it ([Summarize], the transparency report). It makes no routing
// or key decision: it records them and re-checks them with package policy, the code that
// made them (one implementation of each rule).
package audit
