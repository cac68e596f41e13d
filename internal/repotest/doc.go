// Package repotest holds tests of the repository as a whole: every package documented, every
// example config verified. It has no code of its own.
package repotest
