//! The `regionless` command line: parses arguments and hands off to the library crates.
//! Must never hold logic that a library part should own.
#![forbid(unsafe_code)]

fn main() {}
